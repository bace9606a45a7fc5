# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An HTTP client for Google's REST APIs: retries with exponential backoff and jitter, readable errors."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import random
import time

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import (
    GcpApiError, GcpAuthError, GcpError, describe_cause, error_reasons)

try:
    import requests
    from google.auth import exceptions as google_auth_exceptions
    from google.auth.transport.requests import AuthorizedSession
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the controller's Python
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = exc

# Quota (429) and transient server errors are worth another try; everything else is the caller's to fix.
RETRYABLE_STATUS = frozenset([429, 500, 502, 503, 504])
# Compute Engine answers a request over its rate quota with 403, not 429: "If your project exceeds a rate quota, you
# receive a 403 error with the reason rateLimitExceeded. To resolve this error, wait a minute then try your request
# again" (https://cloud.google.com/compute/api-quota); Google's APIs use userRateLimitExceeded for the per-user
# limit. A 403 with any other reason (forbidden, quotaExceeded for resource quota) stays final.
RATE_LIMIT_REASONS = frozenset(['rateLimitExceeded', 'userRateLimitExceeded'])
USER_AGENT = 'meshbridge-istio_vm'


class RetryPolicy(object):
    """Exponential backoff with full jitter: attempt n waits a random time in [0, min(cap, base * 2**n)],
    or the server's Retry-After when it sends one (capped too)."""

    def __init__(self, retries=6, base=0.5, cap=30.0, rng=None):
        self.retries = retries
        self.base = base
        self.cap = cap
        self._rng = rng or random.Random()

    def delay(self, attempt, retry_after=None):
        if retry_after is not None:
            return min(self.cap, retry_after)
        return self._rng.uniform(0, min(self.cap, self.base * (2 ** attempt)))


class GcpClient(object):
    """JSON requests to Google APIs with the given credentials. ``session`` and ``sleep`` are injectable for tests.
    ``auth_remedy`` is what the user is told to do when the credentials are refused (see auth.auth_remedy)."""

    def __init__(self, credentials=None, policy=None, session=None, sleep=time.sleep, timeout=60, auth_remedy=''):
        self.policy = policy or RetryPolicy()
        self._session = session if session is not None else AuthorizedSession(credentials)
        self._sleep = sleep
        self._timeout = timeout
        self._auth_remedy = auth_remedy
        # Every retry made, for the module's result: a run that converged through faults says so.
        self.retried = []

    def get(self, url, params=None):
        return self.request('GET', url, params=params)

    def get_or_none(self, url):
        """The resource at ``url``, or None when the API says 404."""
        try:
            return self.get(url)
        except GcpApiError as exc:
            if exc.status_code == 404:
                return None
            raise

    def post(self, url, body=None, params=None):
        return self.request('POST', url, body=body, params=params)

    def put(self, url, body=None):
        return self.request('PUT', url, body=body)

    def patch(self, url, body=None):
        return self.request('PATCH', url, body=body)

    def delete(self, url):
        return self.request('DELETE', url)

    def request(self, method, url, body=None, params=None):
        attempt = 0
        while True:
            try:
                response = self._session.request(method, url, json=body, params=params, timeout=self._timeout,
                                                 headers={'User-Agent': USER_AGENT})
            except requests.exceptions.RequestException as exc:
                if attempt >= self.policy.retries:
                    raise GcpError('%s %s failed after %d attempts: %s' % (method, url, attempt + 1, exc))
                self._backoff(attempt, method, url, type(exc).__name__, None)
                attempt += 1
                continue
            # The session gets (and renews) the access token inside request(): google-auth's errors come from there.
            except google_auth_exceptions.TransportError as exc:
                if attempt >= self.policy.retries:
                    raise GcpAuthError('%s %s: could not reach the token endpoint after %d attempts: %s. Check the '
                                       "controller's DNS and proxy settings. %s"
                                       % (method, url, attempt + 1, describe_cause(exc), self._auth_remedy))
                self._backoff(attempt, method, url, type(exc).__name__, None)
                attempt += 1
                continue
            except google_auth_exceptions.GoogleAuthError as exc:
                raise GcpAuthError('%s %s: the credentials were refused when getting an access token: %s. %s'
                                   % (method, url, describe_cause(exc), self._auth_remedy))
            if response.status_code < 400:
                return response.json() if response.content else {}
            cause = retry_cause(response.status_code, response.text)
            if cause is None or attempt >= self.policy.retries:
                raise GcpApiError(method, url, response.status_code, response.text)
            self._backoff(attempt, method, url, cause, _retry_after(response))
            attempt += 1

    def _backoff(self, attempt, method, url, cause, retry_after):
        delay = self.policy.delay(attempt, retry_after)
        self.retried.append({'method': method, 'url': url, 'cause': cause, 'attempt': attempt + 1,
                             'delay': round(delay, 3)})
        self._sleep(delay)


def retry_cause(status_code, body_text):
    """What a retry is recorded as (the status, or ``403 rateLimitExceeded``), or None when the answer is final."""
    if status_code in RETRYABLE_STATUS:
        return status_code
    if status_code == 403:
        limited = sorted(RATE_LIMIT_REASONS.intersection(error_reasons(body_text)))
        if limited:
            return '403 %s' % limited[0]
    return None


def _retry_after(response):
    value = response.headers.get('Retry-After')
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date; the backoff formula is good enough then
