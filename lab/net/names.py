"""Names of the lab's namespaces, links and machines, all under one configurable prefix.

Tests give each run its own prefix so parallel runs do not collide; ``lab up`` uses ``mbl-``. Names are built from
fixed words after the prefix (``vpc``, ``controller``, ``gke-``, ``vm-``) and ``cleanup`` matches exactly those,
so a prefix never claims another tool's ``mbl-something``. Link names must fit Linux's 15 characters.
"""

import hashlib
import re

IFNAMSIZ = 15
# Letters and digits then a dash, at most 12 characters: leaves room for the longest fixed link name ("ctl", "br0").
_PREFIX = re.compile(r'^[a-z][a-z0-9]{0,10}-$')
_MACHINE_NAME_MAX = 64


def _fit(name, limit):
    """``name`` if it fits ``limit`` characters, else a readable head plus a hash of the whole name."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f'{name[:limit - 7]}-{digest}'


class LabNames:
    """Every name the lab gives to a kernel object, for one prefix."""

    def __init__(self, prefix='mbl-'):
        if not _PREFIX.match(prefix):
            raise ValueError(f'prefix {prefix!r} is not valid: use a lowercase letter, up to 10 letters or digits and '
                             f'a trailing dash (at most 12 characters, e.g. "mbl-"), so link names fit {IFNAMSIZ} characters')
        self.prefix = prefix

    @property
    def vpc_netns(self):
        return self.prefix + 'vpc'

    @property
    def bridge(self):
        return self.prefix + 'br0'

    @property
    def controller_link(self):
        """The controller's end of its veth to the bridge (in the host namespace for ``lab up``)."""
        return self.prefix + 'ctl'

    @property
    def controller_netns(self):
        """Where tests put the controller's link instead of the host namespace."""
        return self.prefix + 'controller'

    def cluster_netns(self, cluster):
        return f'{self.prefix}gke-{cluster}'

    def vm_netns(self, instance):
        return f'{self.prefix}vm-{instance}'

    def machine(self, instance):
        """The systemd-nspawn machine name (a hostname, at most 64 characters)."""
        return _fit(self.vm_netns(instance), _MACHINE_NAME_MAX)

    def is_lab_netns(self, netns):
        """Whether ``netns`` is one this prefix's lab creates."""
        if not netns.startswith(self.prefix):
            return False
        rest = netns[len(self.prefix):]
        return rest in ('vpc', 'controller') or rest.startswith(('gke-', 'vm-', 'pod-'))


def bridge_port(kind, name):
    """The bridge-side link name of a cluster or VM in the VPC namespace (private to one lab, fits IFNAMSIZ)."""
    return _fit(f'{kind}-{name}', IFNAMSIZ)
