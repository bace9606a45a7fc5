# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded waits on long-running operations (compute and container APIs) and on resource states."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import calendar
import re
import time

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import polling
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import (
    GcpOperationError, GcpOperationTimeout, format_operation_error)


class Poller(polling.Poller):
    """The shared poller at the pace of the GCP waits (from 1 s, times 1.5, at most 10 s), raising
    GcpOperationTimeout. ``clock`` and ``sleep`` are injectable for tests."""

    def __init__(self, first=1.0, factor=1.5, cap=10.0, clock=None, sleep=None):
        super(Poller, self).__init__(first, factor, cap, clock, sleep)

    def until(self, read, is_done, timeout, describe):
        """Call ``read()`` until ``is_done(value)``; returns ``(value, polls, elapsed)``. Raises GcpOperationTimeout
        with ``describe(value)`` (what is not ready) once ``timeout`` seconds have passed."""
        try:
            value, polls, elapsed = super(Poller, self).until(read, is_done, timeout, describe)
        except polling.PollTimeout as timed_out:
            raise GcpOperationTimeout('%s after %.0f s (timeout %s s, %d polls)'
                                      % (timed_out.last, timed_out.elapsed, timeout, timed_out.attempts))
        return value, polls, round(elapsed, 3)


class OperationWaiter(object):
    """Waits for a compute or container Operation to be DONE and fails on its error. Each wait is recorded in
    ``progress`` for the module's result."""

    def __init__(self, client, poller=None):
        self._client = client
        self._poller = poller or Poller()
        self.progress = []

    def wait(self, operation, url, timeout):
        """Wait for ``operation`` (as returned by the API), polled at ``url``; returns the finished operation."""
        record = {'operation': operation.get('name'), 'type': operation.get('operationType'),
                  'target': operation.get('targetLink'), 'status': operation.get('status'), 'polls': 0, 'elapsed': 0}
        self.progress.append(record)
        latest = [operation]

        def read():
            if latest[0].get('status') != 'DONE':
                latest[0] = self._client.get(url)
                record['polls'] += 1
                record['status'] = latest[0].get('status')
            return latest[0]

        done, dummy, elapsed = self._poller.until(
            read=read, is_done=lambda op: op.get('status') == 'DONE', timeout=timeout,
            describe=lambda op: 'operation %s (%s on %s) is still %s%s' % (
                op.get('name'), op.get('operationType'), op.get('targetLink'), op.get('status'), _progress_text(op)))
        record['elapsed'] = elapsed
        failure = format_operation_error(done)
        if failure:
            record['error'] = failure
            raise GcpOperationError(failure)
        return done


def _progress_text(operation):
    progress = operation.get('progress')
    if isinstance(progress, int):  # compute: percent
        return ' (%d%% done)' % progress
    return ''


def _parse_time(text):
    """Seconds since the epoch of an RFC 3339 time as the APIs write it (``2026-01-02T03:04:05.123456789Z`` or
    ``+00:00``); None when absent or unreadable."""
    if not text:
        return None
    match = re.match(r'^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$', text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    seconds += float(match.group(7) or 0)
    zone = match.group(8)
    if zone != 'Z':
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        seconds -= offset if zone[0] == '+' else -offset
    return seconds


def describe_operation(operation, now):
    """One line for a person watching: the operation, what it does, its status and how long it has run (from its
    ``startTime``; ``now`` is seconds since the epoch)."""
    started = _parse_time(operation.get('startTime'))
    age = ', %d s since it started' % max(0, now - started) if started is not None else ''
    message = operation.get('statusMessage') or operation.get('detail')
    return 'operation %s (%s on %s) is %s%s%s%s' % (
        operation.get('name'), operation.get('operationType'), (operation.get('targetLink') or '').rsplit('/', 1)[-1],
        operation.get('status'), _progress_text(operation), age, ': %s' % message if message else '')


class OperationWatch(object):
    """Polls one operation for a bounded while and returns whatever it then is: a task polls it again and again
    (``loop`` with a label) so that each return shows its status. ``clock`` and ``sleep`` are injectable for tests,
    ``wall`` (seconds since the epoch, for the operation's age) too."""

    def __init__(self, client, poller=None, wall=None):
        self._client = client
        self._poller = poller or Poller()
        self._wall = wall or time.time

    def watch(self, url, seconds):
        """Poll ``url`` until the operation is DONE or ``seconds`` have passed. Returns ``(operation, done, polls,
        line)``: the last read, whether it is DONE, the reads made and describe_operation's line. A DONE operation
        that failed raises GcpOperationError with its error."""
        latest = [None]
        reads = [0]

        def read():
            latest[0] = self._client.get(url)
            reads[0] += 1
            return latest[0]

        try:
            self._poller.until(read=read, is_done=lambda op: op.get('status') == 'DONE', timeout=seconds,
                               describe=lambda op: op.get('status'))
        except GcpOperationTimeout:
            pass
        operation = latest[0]
        failure = format_operation_error(operation)
        if failure:
            raise GcpOperationError(failure)
        return operation, operation.get('status') == 'DONE', reads[0], describe_operation(operation, self._wall())
