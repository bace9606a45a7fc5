# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of the GCP client, each with a message a user can act on."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json


class GcpError(Exception):
    """Base class: the message is what the module reports."""


class GcpInputError(GcpError):
    """A parameter is malformed; raised before any API call."""


class GcpAuthError(GcpError):
    """The credentials are missing, unreadable or refused; the message names the parameter and the fix."""


class GcpApiError(GcpError):
    """The API answered with an error status."""

    def __init__(self, method, url, status_code, body_text):
        self.method = method
        self.url = url
        self.status_code = status_code
        self.status, self.reason, self.api_message = _parse_error_body(body_text)
        super(GcpApiError, self).__init__(self._describe())

    def _describe(self):
        parts = ['GCP API error %s' % self.status_code]
        if self.status:
            parts.append(self.status)
        text = ' '.join(parts) + ' on %s %s: %s' % (self.method, self.url, self.api_message)
        if self.reason:
            text += ' (reason: %s)' % self.reason
        return text


class GcpOperationError(GcpError):
    """A long-running operation finished with an error."""


class GcpOperationTimeout(GcpError):
    """A long-running operation or a resource did not finish within the allowed time."""


class GcpConflictError(GcpError):
    """The existing resource differs in a field that cannot be changed in place."""


def describe_cause(exc):
    """The readable part of an exception from google-auth or the OS, without a trailing full stop. google-auth
    raises with ``(message, details)`` arguments, whose repr would otherwise be shown."""
    if exc.args and isinstance(exc.args[0], str):
        text = exc.args[0]
    else:
        text = str(exc) or type(exc).__name__
    return text.rstrip('. ')


def error_reasons(body_text):
    """The ``errors[].reason`` values of Google's error JSON in ``body_text`` (none for other bodies)."""
    reason = _parse_error_body(body_text)[1]
    return reason.split(', ') if reason else []


def _parse_error_body(body_text):
    """``(status, reason, message)`` from Google's error JSON, or the start of a non-JSON body."""
    try:
        error = json.loads(body_text).get('error')
    except (ValueError, AttributeError):
        error = None
    if not isinstance(error, dict):
        # OAuth endpoints answer {"error": "invalid_grant", "error_description": ...}; proxies answer HTML.
        snippet = (body_text or '').strip().replace('\n', ' ')
        return None, None, snippet[:300] or '(empty response body)'
    reasons = [item.get('reason') for item in error.get('errors') or [] if isinstance(item, dict) and item.get('reason')]
    return error.get('status'), ', '.join(reasons) or None, error.get('message') or '(no message)'


def format_operation_error(operation):
    """A one-line description of a finished operation's error, for compute (``error.errors``) and container
    (``error`` as a google.rpc.Status, or ``statusMessage``) operations; None when the operation succeeded."""
    error = operation.get('error')
    messages = []
    if isinstance(error, dict):
        for item in error.get('errors') or []:
            messages.append('%s: %s' % (item.get('code', 'ERROR'), item.get('message', '')))
        if not messages and (error.get('message') or error.get('code')):
            messages.append('%s: %s' % (error.get('code', 'ERROR'), error.get('message', '')))
    if not messages and operation.get('statusMessage') and operation.get('status') == 'DONE' and error:
        messages.append(operation['statusMessage'])
    if not messages:
        return None
    return 'operation %s (%s on %s) failed: %s' % (
        operation.get('name'), operation.get('operationType'), operation.get('targetLink'), '; '.join(messages))
