# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The present/absent reconciliation every GCP resource module shares: read, compare the managed fields,
create/update/delete only what differs, predict the same in check mode."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.diff import ansible_diff, changed_fields
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import (
    GcpApiError, GcpConflictError, GcpOperationError)
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.operations import OperationWaiter


class ManagedResource(object):
    """Subclasses define ``self_link``, ``desired_view()``, ``current_view(obj)``, ``create()``,
    ``update(obj, fields)``, ``delete(obj)`` and ``IMMUTABLE`` (fields that cannot change in place)."""

    IMMUTABLE = frozenset()
    RESULT_KEY = 'resource'

    def __init__(self, client, params, waiter=None):
        self.client = client
        self.params = params
        self.waiter = waiter or OperationWaiter(client)
        # What the user should see besides the result (the module warns with each): waits the run had to make.
        self.warnings = []

    def settle(self, current, check_mode):
        """Hook for an existing resource that is not in a steady state; returns it as it is once settled (in
        check mode: as it is now), or None when it went away meanwhile. It changes nothing."""
        return current

    def replacement_reason(self, current):
        """Hook: why the existing ``current`` cannot be kept and must be deleted and created again (present), as
        a phrase such as ``in status ERROR``, or None. The plan, check mode, diff and a warning show the replacement."""
        return None

    def run(self, state, check_mode):
        desired = self.desired_view() if state == 'present' else {}
        current = self.client.get_or_none(self.self_link)
        if current is not None:
            current = self.settle(current, check_mode)
        before = self.current_view(current) if current is not None else {}
        result = {'changed': False, 'changed_fields': []}
        replace = self.replacement_reason(current) if current is not None and state == 'present' else None

        if state == 'absent':
            if current is not None:
                result.update(changed=True, changed_fields=sorted(before))
                if not check_mode:
                    self.delete(current)
            current = None
        elif current is None:
            result.update(changed=True, changed_fields=sorted(desired))
            if not check_mode:
                current = self._create()
        elif replace:
            # Everything is set anew, whatever the old resource had.
            result.update(changed=True, changed_fields=sorted(desired))
            result['warnings'] = ['%s is %s: it %s deleted and created again' % (
                self.self_link, replace, 'would be' if check_mode else 'was')]
            if not check_mode:
                self.delete(current)
                current = self._create()
        else:
            fields = self._fields_to_update(desired, before)
            if fields:
                result.update(changed=True, changed_fields=fields)
                if not check_mode:
                    current = self.update(current, fields)

        after = desired if state == 'present' else {}
        result['diff'] = ansible_diff(before, after)
        if replace:
            result['diff'].update(before_header='%s, %s: deleted' % (self.self_link, replace),
                                  after_header='%s (created again)' % self.self_link)
        result[self.RESULT_KEY] = current if current is not None else {}
        result['operations'] = self.waiter.progress
        result['api_retries'] = self.client.retried
        if self.warnings:
            result['warnings'] = result.get('warnings', []) + self.warnings
        return result

    def _fields_to_update(self, desired, before):
        """The fields that differ; raises GcpConflictError when one of them cannot change in place."""
        fields = changed_fields(desired, before)
        fixed = sorted(set(fields) & self.IMMUTABLE)
        if fixed:
            raise GcpConflictError(
                '%s exists and differs in %s, which cannot change in place: %s. Set the parameters to the current '
                'values or delete the resource first.' % (self.self_link, ', '.join(fixed), '; '.join(
                    '%s is %r, wanted %r' % (field, before.get(field), desired[field]) for field in fixed)))
        return fields

    def _create(self):
        """Create the resource; returns it as the API has it then."""
        mark = len(self.client.retried)
        try:
            return self.create()
        except GcpApiError as exc:
            if exc.status_code != 409 or not _retried_after_it_may_have_run(self.client.retried[mark:], exc):
                raise
        # The insert was retried and the retry found the resource: the first try may have created it, and the
        # answer got lost. It did not exist when this run looked, so it is adopted, but like any existing resource
        # only after comparing it with the parameters: it may be someone else's.
        adopted = self.settle(self.client.get(self.self_link), False)
        if adopted is None:
            raise GcpOperationError('%s answered a retried insert with 409 (already exists), then went away'
                                    % self.self_link)
        if self.replacement_reason(adopted):
            raise GcpOperationError('%s answered a retried insert with 409 (already exists) and is %s; run again to '
                                    'replace it' % (self.self_link, self.replacement_reason(adopted)))
        fields = self._fields_to_update(self.desired_view(), self.current_view(adopted))
        return self.update(adopted, fields) if fields else adopted


# What a busy GKE cluster's refusal of a mutation is recorded as among the retries (container.Cluster).
BUSY_CAUSE = '400 FAILED_PRECONDITION'
# Retry causes after which the first try certainly did nothing: quota and rate limits (429, compute's 403) refuse a
# request before it runs, a busy cluster refuses it too, and a connection that was never made carried no request.
_NOT_RUN = frozenset([429, '403 rateLimitExceeded', '403 userRateLimitExceeded', BUSY_CAUSE, 'ConnectTimeout'])


def _retried_after_it_may_have_run(retries, exc):
    """Whether the request that failed with ``exc`` was itself retried (``retries``: the client's records) after a
    failure that leaves open whether the API acted on it."""
    return any(entry['method'] == exc.method and entry['url'] == exc.url and entry['cause'] not in _NOT_RUN
               for entry in retries)
