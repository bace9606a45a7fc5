"""The lab's host-side addresses: one lab at a time may hold them, so tests that need them take turns.

A lab's clusters serve their Kubernetes API on host loopback (127.0.10.N:443, numbered per project from 1), and
``lab up`` (and the tests that run a lab as ``lab up`` does) put the controller's address on a host link. Test
processes running side by side (pytest-xdist) wait for each other on a lock file; a lab brought up by hand, which
takes no lock, makes the test fail with the fix in the message.
"""

import contextlib
import fcntl
import socket

from lab.net import addresses
from lab.net.vpc import host_links_holding

LOCK_FILE = '/run/lock/meshbridge-lab-host-addresses.lock'
FIRST_CLUSTER_ENDPOINT = ('127.0.10.1', 443)


def _listening(address):
    try:
        socket.create_connection(address, timeout=1).close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def host_lab_turn():
    with open(LOCK_FILE, 'a', encoding='utf-8') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        holders = host_links_holding(addresses.CONTROLLER)
        if holders:
            raise AssertionError(f'the controller address {addresses.CONTROLLER} is already on host link(s) '
                                 f'{", ".join(holders)}: a lab is up outside the tests; take it down (make lab-down) '
                                 f'and run the tests again')
        if _listening(FIRST_CLUSTER_ENDPOINT):
            raise AssertionError('a cluster API already listens on %s:%d: a lab is up outside the tests; take it down '
                                 '(make lab-down) and run the tests again' % FIRST_CLUSTER_ENDPOINT)
        yield
