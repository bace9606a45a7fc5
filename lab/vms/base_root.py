"""The Debian 12 base root of every lab VM: built once with debootstrap, cached as a tarball.

The tarball lives in ``~/.cache/meshbridge-lab/`` (``$XDG_CACHE_HOME`` respected), named by a key derived from
the suite and the package list, so changing the list builds a new one and an existing one is never rebuilt. Next
to it sits the tarball unpacked once, read-only by convention: the lower layer of every VM's overlay root. Builds
and unpacks take a file lock, so parallel test runs share one build.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time

from lab.net.commands import run

SUITE = 'bookworm'
MIRROR = 'http://deb.debian.org/debian'
# What a GCE Debian 12 image offers Ansible and the sidecar role: systemd, sshd, python3 with apt bindings (the
# apt module cannot fetch them: VMs have no internet), sudo for become, iproute2, curl and certificates (which brings
# openssl, the sidecar agent's key and CSR tool), and iptables, which Istio's istio-start.sh runs for traffic capture.
PACKAGES = (
    'systemd', 'systemd-sysv', 'dbus', 'openssh-server', 'python3', 'python3-apt', 'sudo', 'iproute2',
    'ca-certificates', 'curl', 'procps', 'iptables',
)
# Bump when the preparation below changes what a built root contains.
_LAYOUT_VERSION = 1


def default_cache_dir():
    cache_home = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(cache_home, 'meshbridge-lab')


class BaseRoot:
    """The cached base root for one package list."""

    def __init__(self, cache_dir=None, packages=PACKAGES, suite=SUITE, mirror=MIRROR):
        self.cache_dir = cache_dir or default_cache_dir()
        self.packages = tuple(sorted(set(packages)))
        self.suite = suite
        self.mirror = mirror
        manifest = json.dumps({'suite': suite, 'packages': self.packages, 'layout': _LAYOUT_VERSION}, sort_keys=True)
        self.key = hashlib.sha256(manifest.encode()).hexdigest()[:16]
        self.tarball = os.path.join(self.cache_dir, f'debian-{suite}-{self.key}.tar.gz')
        self.unpacked = os.path.join(self.cache_dir, f'debian-{suite}-{self.key}')
        self.build_seconds = None

    def ensure_tarball(self):
        """Build the tarball unless it is cached; return its path."""
        if os.path.exists(self.tarball):
            return self.tarball
        with self._lock():
            if not os.path.exists(self.tarball):
                self._build()
        return self.tarball

    def ensure_unpacked(self):
        """The unpacked base root (the overlay lower layer), unpacked from the tarball once; return its path."""
        if os.path.isdir(self.unpacked):
            return self.unpacked
        self.ensure_tarball()
        with self._lock():
            if not os.path.isdir(self.unpacked):
                partial = f'{self.unpacked}.partial-{os.getpid()}'
                shutil.rmtree(partial, ignore_errors=True)
                os.makedirs(partial)
                run(['tar', '-xzpf', self.tarball, '--numeric-owner', '-C', partial], timeout=600)
                os.rename(partial, self.unpacked)
        return self.unpacked

    @contextlib.contextmanager
    def _lock(self):
        os.makedirs(self.cache_dir, exist_ok=True)
        with open(os.path.join(self.cache_dir, f'{self.key}.lock'), 'w', encoding='ascii') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _build(self):
        started = time.monotonic()
        work = os.path.join(self.cache_dir, f'build-{self.key}-{os.getpid()}')
        shutil.rmtree(work, ignore_errors=True)
        root = os.path.join(work, 'root')
        try:
            run(['debootstrap', '--variant=minbase', '--include=' + ','.join(self.packages), self.suite, root, self.mirror],
                timeout=1800)
            _prepare(root)
            partial = f'{self.tarball}.partial-{os.getpid()}'
            run(['tar', '-czpf', partial, '--numeric-owner', '-C', root, '.'], timeout=1800)
            os.rename(partial, self.tarball)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self.build_seconds = time.monotonic() - started


def _prepare(root):
    """Make a freshly bootstrapped root a template: no per-machine identity, no package downloads."""
    # Each VM gets its own SSH host keys and machine ID (systemd makes one at boot when the file is empty).
    ssh_dir = os.path.join(root, 'etc', 'ssh')
    for entry in os.listdir(ssh_dir):
        if entry.startswith('ssh_host_'):
            os.unlink(os.path.join(ssh_dir, entry))
    with open(os.path.join(root, 'etc', 'machine-id'), 'w', encoding='ascii'):
        pass
    with open(os.path.join(root, 'etc', 'hostname'), 'w', encoding='ascii') as handle:
        handle.write('localhost\n')
    archives = os.path.join(root, 'var', 'cache', 'apt', 'archives')
    for entry in os.listdir(archives):
        if entry.endswith('.deb'):
            os.unlink(os.path.join(archives, entry))
