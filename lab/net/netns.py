"""Network namespaces: create and delete them, and run code, sockets or processes inside one.

Python 3.11 has no ``os.setns``, so code runs inside a namespace on a dedicated thread that calls setns(2) through
ctypes and then ends; a thread that switched namespaces is never reused. A socket keeps the namespace it was made
in, so a socket made on such a thread can be used from any thread afterwards: that is how a host process listens
or connects inside a lab namespace.
"""

import ctypes
import os
import socket
import threading

from lab.net.commands import run

NETNS_DIR = '/run/netns'
_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def netns_path(name):
    return os.path.join(NETNS_DIR, name)


def exists(name):
    return os.path.exists(netns_path(name))


def names():
    """Names of all named network namespaces."""
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def create(name):
    """A new namespace with loopback up; refuses to reuse an existing one (left over from a crash: run cleanup)."""
    if exists(name):
        raise FileExistsError(f'network namespace {name} already exists: remove it with the lab cleanup for its prefix')
    run(['ip', 'netns', 'add', name])
    run(['ip', '-n', name, 'link', 'set', 'lo', 'up'])


def delete(name):
    """Delete the namespace if it exists; its links go with it (and the far ends of its veths)."""
    if exists(name):
        run(['ip', 'netns', 'delete', name])


def ip(name, *args):
    """Run ``ip ARGS`` inside namespace ``name``; return its stdout."""
    return run(['ip', '-n', name, *args])


def command(name, argv):
    """``argv`` wrapped to run inside namespace ``name`` (network namespace only, host filesystem)."""
    return ['nsenter', f'--net={netns_path(name)}', '--', *argv]


def pids(name):
    """PIDs of processes whose network namespace is ``name`` (as ``ip netns pids``)."""
    try:
        target = os.stat(netns_path(name))
    except FileNotFoundError:
        return []
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            stat = os.stat(f'/proc/{entry}/ns/net')
        except OSError:
            continue  # gone, or a kernel thread
        if (stat.st_dev, stat.st_ino) == (target.st_dev, target.st_ino):
            found.append(int(entry))
    return found


def run_in(name, function, *args, **kwargs):
    """Call ``function(*args, **kwargs)`` on a fresh thread inside namespace ``name``; return or raise its result."""
    outcome = {}

    def enter_and_call():
        try:
            fd = os.open(netns_path(name), os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, _CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, f'setns into network namespace {name}: {os.strerror(errno)}')
            finally:
                os.close(fd)
            outcome['value'] = function(*args, **kwargs)
        except BaseException as exc:  # pylint: disable=broad-exception-caught  # handed to the caller's thread
            outcome['error'] = exc

    thread = threading.Thread(target=enter_and_call, name=f'netns-{name}', daemon=True)
    thread.start()
    thread.join()
    if 'error' in outcome:
        raise outcome['error']
    return outcome['value']


def socket_in(name, family=socket.AF_INET, kind=socket.SOCK_STREAM):
    """A new socket that lives in namespace ``name``."""
    return run_in(name, socket.socket, family, kind)


def listen_tcp(name, address, port=0, backlog=16):
    """A TCP socket listening on ``address:port`` inside namespace ``name`` (port 0: an ephemeral one)."""
    sock = socket_in(name)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((str(address), port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def connect_tcp(name, address, port, *, source=None, timeout=5.0):
    """A TCP connection made from inside namespace ``name``, optionally from ``source`` (an address there)."""
    sock = socket_in(name)
    try:
        sock.settimeout(timeout)
        if source is not None:
            sock.bind((str(source), 0))
        sock.connect((str(address), port))
    except OSError:
        sock.close()
        raise
    return sock
