# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded waits on long-running operations (compute and container APIs) and on resource states."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

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
