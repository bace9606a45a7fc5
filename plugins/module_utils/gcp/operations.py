# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded waits on long-running operations (compute and container APIs) and on resource states."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import (
    GcpOperationError, GcpOperationTimeout, format_operation_error)


class Poller(object):
    """Polls at growing intervals (``first``, times ``factor``, at most ``cap`` seconds), never past a deadline.
    ``clock`` and ``sleep`` are injectable for tests."""

    def __init__(self, first=1.0, factor=1.5, cap=10.0, clock=time.monotonic, sleep=time.sleep):
        self.first = first
        self.factor = factor
        self.cap = cap
        self._clock = clock
        self._sleep = sleep

    def until(self, read, is_done, timeout, describe):
        """Call ``read()`` until ``is_done(value)``; returns ``(value, polls, elapsed)``. Raises GcpOperationTimeout
        with ``describe(value)`` (what is not ready) once ``timeout`` seconds have passed."""
        start = self._clock()
        deadline = start + timeout
        interval = self.first
        polls = 0
        while True:
            value = read()
            polls += 1
            if is_done(value):
                return value, polls, round(self._clock() - start, 3)
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise GcpOperationTimeout('%s after %.0f s (timeout %s s, %d polls)'
                                          % (describe(value), self._clock() - start, timeout, polls))
            self._sleep(min(interval, remaining))
            interval = min(self.cap, interval * self.factor)


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
