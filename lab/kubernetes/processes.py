"""The lab's long-running programs: started with a marker in their environment, so that ``cleanup(prefix)`` finds
them from the kernel after a crash of the process that started them, and stopped with their process group."""

import os
import signal
import subprocess
import time

MARKER = 'MESHBRIDGE_LAB_PREFIX'


class Program:
    """One started program, its output in ``log_path``."""

    def __init__(self, name, argv, log_path, prefix, env=None, cwd=None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        environment = dict(os.environ if env is None else env)
        environment[MARKER] = prefix
        with open(log_path, 'ab') as log:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            env=environment, cwd=cwd, start_new_session=True)

    def running(self):
        return self.process.poll() is None

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, encoding='utf-8', errors='replace') as handle:
                return ''.join(handle.readlines()[-lines:])
        except OSError:
            return ''

    def stop(self, timeout=10):
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)


def _signal_group(pid, signum):
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass


def marked(prefix):
    """PIDs of every process started by a lab whose prefix starts with ``prefix``, found by the marker in its
    environment (``mbk-`` finds every test control plane's)."""
    wanted = ('%s=%s' % (MARKER, prefix)).encode()
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open('/proc/%s/environ' % entry, 'rb') as handle:
                if any(item.startswith(wanted) for item in handle.read().split(b'\0')):
                    found.append(int(entry))
        except OSError:
            continue
    return found


def stop_marked(prefix, timeout=10):
    """Stop every process of ``prefix`` (SIGTERM, then SIGKILL after ``timeout`` s); return how many there were."""
    pids = marked(prefix)
    for pid in pids:
        _kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.05)
    for pid in pids:
        if _alive(pid):
            _kill(pid, signal.SIGKILL)
    # A killed process is in /proc until the kernel has torn it down; a busy machine takes a moment for that.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.05)
    return len(pids)


def _kill(pid, signum):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _alive(pid):
    try:
        with open('/proc/%d/stat' % pid, encoding='ascii') as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False
