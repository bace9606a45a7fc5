# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One bounded wait with exponential backoff, shared by every poll loop of the collection.

Standard library only: grpc_health and grpc_call run it on VMs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

FIRST_INTERVAL = 0.5
FACTOR = 1.5
MAX_INTERVAL = 5.0


class PollTimeout(Exception):
    """The wait ran out of time. ``last`` says what was still not ready at the last look (``describe`` of the last
    value read); ``attempts`` and ``elapsed`` are for the caller's message."""

    def __init__(self, last, attempts, elapsed):
        super(PollTimeout, self).__init__(last)
        self.last = last
        self.attempts = attempts
        self.elapsed = elapsed


class Poller(object):
    """Reads until a condition holds, sleeping ``first`` seconds, then ``factor`` times longer each time up to
    ``cap``, never past the deadline: the last sleep is cut short so that the last read happens at the deadline.

    ``clock`` and ``sleep`` default to ``time.monotonic`` and ``time.sleep`` (looked up when the poller is made);
    tests pass their own.
    """

    def __init__(self, first=FIRST_INTERVAL, factor=FACTOR, cap=MAX_INTERVAL, clock=None, sleep=None):
        self.first = first
        self.factor = factor
        self.cap = cap
        self._clock = clock or time.monotonic
        self._sleep = sleep or time.sleep

    def pause(self, seconds):
        """Sleep ``seconds`` with this poller's sleep (a backoff between tries that is not a poll)."""
        self._sleep(seconds)

    def until(self, read, is_done, timeout, describe):
        """Call ``read()`` until ``is_done(value)``; returns ``(value, reads, elapsed seconds)``.

        Once ``timeout`` seconds have passed, raises PollTimeout whose ``last`` is ``describe(value)`` of the last
        value read: what is not ready, for the caller's message.
        """
        start = self._clock()
        deadline = start + timeout
        interval = self.first
        reads = 0
        while True:
            value = read()
            reads += 1
            if is_done(value):
                return value, reads, self._clock() - start
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise PollTimeout(describe(value), reads, self._clock() - start)
            self._sleep(min(interval, remaining))
            interval = min(self.cap, interval * self.factor)
