"""The host-side controller address: one lab at a time may hold it, so tests that need it take turns.

``lab up`` (and the tests that run a lab as ``lab up`` does) put the controller's address on a host link. Test
processes running side by side (pytest-xdist) wait for each other on a lock file; a lab brought up by hand, which
takes no lock, makes the test fail with the fix in the message.
"""

import contextlib
import fcntl

from lab.net import addresses
from lab.net.vpc import host_links_holding

LOCK_FILE = '/run/lock/meshbridge-lab-host-controller.lock'


@contextlib.contextmanager
def host_controller_turn():
    with open(LOCK_FILE, 'a', encoding='utf-8') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        holders = host_links_holding(addresses.CONTROLLER)
        if holders:
            raise AssertionError(f'the controller address {addresses.CONTROLLER} is already on host link(s) '
                                 f'{", ".join(holders)}: a lab is up outside the tests; take it down (make lab-down) '
                                 f'and run the tests again')
        yield
