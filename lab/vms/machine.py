"""One lab VM's body: an overlay root under the lab state, its network namespace, its systemd-nspawn process.

The root is an overlay on the cached base root (lower, shared, never written) with this VM's changes in
``upper``; systemd boots in it inside netns ``<prefix>vm-<name>``. nspawn is told not to register with or move
into a host systemd (there is none here: the host's PID 1 is not systemd) and to leave the console passive, so it
needs no terminal. SIGTERM to nspawn powers the VM off cleanly. Its root keeps CAP_NET_ADMIN (a GCE VM's root has
it): the Istio sidecar's start script sets up iptables capture in the VM's network namespace.
"""

import os
import re
import shutil
import signal
import subprocess
import time

from lab.net import netns
from lab.net.commands import NotReady, run, wait_for

SSH_PORT = 22


def nspawn_argv(root, machine, namespace):
    return [
        'systemd-nspawn', '--quiet', '--register=no', '--keep-unit', '--boot',
        f'--directory={root}', f'--machine={machine}',
        f'--network-namespace-path={netns.netns_path(namespace)}',
        '--console=passive', '--resolv-conf=off', '--timezone=off', '--link-journal=no',
        '--capability=CAP_NET_ADMIN',
    ]


def is_mounted(path):
    return any(mount_point == path for mount_point in mount_points())


def mount_points():
    """Mount points of the host mount namespace, unescaped."""
    with open('/proc/self/mounts', encoding='utf-8') as handle:
        fields = [line.split()[1] for line in handle]
    # The kernel writes space, tab, newline and backslash in paths as octal escapes.
    return [re.sub(r'\\([0-7]{3})', lambda match: chr(int(match.group(1), 8)), field) for field in fields]


class Vm:
    """The VM named ``name`` of the lab with names ``names`` and state directory ``state_dir``."""

    def __init__(self, name, address, names, state_dir):
        self.name = name
        self.address = address
        self.netns = names.vm_netns(name)
        self.machine = names.machine(name)
        self.directory = os.path.join(state_dir, 'vms', self.netns)
        self.root = os.path.join(self.directory, 'root')
        self.console_log = os.path.join(self.directory, 'console.log')
        self._pid_file = os.path.join(self.directory, 'nspawn.pid')
        self._process = None

    def mount_root(self, lower):
        """Mount this VM's overlay root on ``lower`` (idempotent)."""
        upper, work = os.path.join(self.directory, 'upper'), os.path.join(self.directory, 'work')
        for path in (upper, work, self.root):
            os.makedirs(path, exist_ok=True)
        if not is_mounted(self.root):
            run(['mount', '-t', 'overlay', 'overlay', '-o', f'lowerdir={lower},upperdir={upper},workdir={work}', self.root])

    # The nspawn process

    @property
    def pid(self):
        """The PID of this VM's nspawn process, or None when it is not running."""
        if self._process is not None:
            return self._process.pid if self._process.poll() is None else None
        try:
            with open(self._pid_file, encoding='ascii') as handle:
                pid = int(handle.read())
            with open(f'/proc/{pid}/cmdline', 'rb') as handle:
                argv = handle.read().split(b'\0')
        except (OSError, ValueError):
            return None
        # A recycled PID is not ours: check it is nspawn running this machine.
        return pid if f'--machine={self.machine}'.encode() in argv else None

    def boot(self):
        """Start systemd in the VM (returns at once; ``wait_ready`` waits for it)."""
        if self.pid is not None:
            return
        with open(self.console_log, 'ab') as console:
            self._process = subprocess.Popen(  # pylint: disable=consider-using-with  # lives until shutdown()
                nspawn_argv(self.root, self.machine, self.netns), stdin=subprocess.DEVNULL, stdout=console,
                stderr=subprocess.STDOUT, start_new_session=True)
        with open(self._pid_file, 'w', encoding='ascii') as handle:
            handle.write(f'{self._process.pid}\n')

    def init_pid(self):
        """The host PID of the VM's PID 1 (systemd), or None before it exists."""
        for pid in netns.pids(self.netns):
            try:
                with open(f'/proc/{pid}/status', encoding='ascii') as handle:
                    ns_pids = next(line for line in handle if line.startswith('NSpid:')).split()[1:]
            except (OSError, StopIteration):
                continue
            if len(ns_pids) > 1 and ns_pids[-1] == '1':
                return pid
        return None

    def command(self, argv):
        """``argv`` wrapped to run inside the VM (all its namespaces), as root."""
        pid = self.init_pid()
        if pid is None:
            raise RuntimeError(f'VM {self.name} is not running')
        return ['nsenter', '-t', str(pid), '-a', '--', *argv]

    def _console_tail(self, lines=20):
        try:
            with open(self.console_log, encoding='utf-8', errors='replace') as handle:
                return ''.join(handle.readlines()[-lines:])
        except OSError:
            return ''

    def wait_ready(self, timeout=90):
        """Wait until systemd reports ``running`` and sshd answers on the instance address; bounded by ``timeout``."""
        deadline = time.monotonic() + timeout

        def systemd_running():
            if self.pid is None:
                raise RuntimeError(f'VM {self.name}: systemd-nspawn exited during boot; console:\n{self._console_tail()}')
            if self.init_pid() is None:
                raise NotReady('PID 1 has not started')
            state = subprocess.run(self.command(['systemctl', 'is-system-running']), capture_output=True, text=True,
                                   timeout=10, check=False).stdout.strip()
            if state == 'degraded':
                failed = run(self.command(['systemctl', '--failed', '--no-legend', '--plain']))
                raise RuntimeError(f'VM {self.name} booted degraded; failed units:\n{failed}')
            if state != 'running':
                raise NotReady(f'systemd is {state or "not answering yet"}')
            return True

        def sshd_answers():
            try:
                with netns.connect_tcp(self.netns, self.address, SSH_PORT, timeout=2) as sock:
                    banner = sock.recv(64)
            except OSError as exc:
                raise NotReady(str(exc)) from None
            if not banner.startswith(b'SSH-2.0-'):
                raise NotReady(f'unexpected banner {banner!r}')
            return True

        wait_for(systemd_running, timeout=timeout, what=f'VM {self.name}: systemd')
        wait_for(sshd_answers, timeout=max(deadline - time.monotonic(), 1),
                 what=f'VM {self.name}: sshd on {self.address}:{SSH_PORT}')

    def shutdown(self, timeout=30):
        """Power the VM off (SIGTERM to nspawn), killing it if it does not stop within ``timeout``."""
        pid = self.pid
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        try:
            wait_for(lambda: self.pid is None, timeout=timeout, what=f'VM {self.name}: power off')
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: self.pid is None, timeout=10, what=f'VM {self.name}: kill')
        if self._process is not None:
            self._process.wait()
            self._process = None

    def remove(self):
        """Stop the VM and remove its root, mounts, namespace (and so its veth) and directory."""
        self.shutdown()
        if is_mounted(self.root):
            run(['umount', self.root])
        netns.delete(self.netns)
        shutil.rmtree(self.directory, ignore_errors=True)
