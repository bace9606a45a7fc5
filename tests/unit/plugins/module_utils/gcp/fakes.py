"""Test doubles for the GCP client: a scripted HTTP session returning real requests.Response objects, and a clock."""

import json

import requests


def response(status, body=None, headers=None):
    """A real requests.Response with a JSON (or, for str, raw) body."""
    result = requests.Response()
    result.status_code = status
    if isinstance(body, str):
        result._content = body.encode()  # pylint: disable=protected-access
    else:
        result._content = json.dumps(body).encode() if body is not None else b''
    result.headers.update(headers or {})
    return result


def api_error(status, message, reason='backendError', api_status='UNAVAILABLE'):
    return response(status, {'error': {'code': status, 'message': message, 'status': api_status,
                                       'errors': [{'message': message, 'domain': 'global', 'reason': reason}]}})


class ScriptedSession:
    """Answers each request with the next scripted response (or raises it, if it is an exception)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def request(self, method, url, json=None, params=None, timeout=None, headers=None):  # pylint: disable=redefined-outer-name,too-many-arguments
        self.calls.append((method, url, json))
        if not self.answers:
            raise AssertionError('unexpected request %s %s' % (method, url))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer
