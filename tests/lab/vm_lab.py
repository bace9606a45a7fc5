"""Helpers for the lab network and VM tests: a prefix per run, a whole lab per test, and what must be gone after a lab
is removed."""

import contextlib
import json
import os
import subprocess
import uuid

from lab.gcp.operations import Settings
from lab.net import netns
from lab.net.names import LabNames
from lab.vms import lifecycle
from lab.vms.cleanup import lab_mounts, lab_processes
from lab.world import World
from tests.support.host_lab import host_lab_turn


def unique_names():
    """Names under a prefix of this test run's own (mbt + 6 hex + dash), so parallel runs never collide."""
    return LabNames(f'mbt{uuid.uuid4().hex[:6]}-')


@contextlib.contextmanager
def running_world(directory, isolated_controller, time_scale):
    """A whole lab (World) under a prefix of its own in ``directory``, with no injected API errors, once it is this
    test's turn to hold the host-side addresses; yields ``(world, names)``, and afterwards requires that nothing of
    it is left on the host."""
    names = unique_names()
    world = World(directory, prefix=names.prefix, proxy_port=0, isolated_controller=isolated_controller,
                  settings=Settings(time_scale=time_scale, rate_429=0.0, rate_503=0.0))
    with host_lab_turn():
        try:
            world.start()
            yield world, names
        finally:
            world.stop()
            lifecycle.down(world.state_dir, names.prefix)
    assert not leftovers(names)
    assert not os.path.exists(world.state_dir)


def host_links():
    return [entry['ifname'] for entry in json.loads(subprocess.run(['ip', '-j', 'link', 'show'], capture_output=True,
                                                                   text=True, check=True).stdout)]


def leftovers(names):
    """Everything of the lab ``names`` still on the host, as seen by ``ip`` and /proc (empty when clean)."""
    listed = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True, check=True).stdout
    found = {
        'namespaces': [line.split()[0] for line in listed.splitlines() if line.startswith(names.prefix)],
        'links': [link for link in host_links() if link.startswith(names.prefix)],
        'mounts': list(lab_mounts(names)),
        'processes': lab_processes(names),
    }
    with open('/proc/self/mounts', encoding='utf-8') as handle:
        found['mounts'] += [line.split()[1] for line in handle if names.prefix in line and line.split()[1] not in found['mounts']]
    for entry in os.listdir('/proc'):
        try:
            with open(f'/proc/{entry}/cmdline', 'rb') as handle:
                if names.prefix.encode() in handle.read() and int(entry) not in found['processes']:
                    found['processes'].append(int(entry))
        except (OSError, ValueError):
            continue
    found['processes'] = [pid for pid in found['processes'] if pid != os.getpid()]
    return {kind: items for kind, items in found.items() if items}


def blocked(namespace, address, port, source=None, timeout=1.5):
    """Whether a TCP connection attempt is silently dropped (times out), as a GCE firewall drops it."""
    try:
        netns.connect_tcp(namespace, address, port, source=source, timeout=timeout).close()
    except TimeoutError:
        return True
    return False
