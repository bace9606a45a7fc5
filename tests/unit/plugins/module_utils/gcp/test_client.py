"""The GCP client retries what is worth retrying, with bounded, jittered exponential backoff, and says why it fails."""

import random

import pytest
import requests

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.client import GcpClient, RetryPolicy
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import GcpApiError, GcpError

from ..fake_clock import FakeClock
from .fakes import ScriptedSession, api_error, response

URL = 'https://compute.googleapis.com/compute/v1/projects/p/global/firewalls/f'


def make_client(session, retries=6):
    clock = FakeClock()
    client = GcpClient(policy=RetryPolicy(retries=retries, rng=random.Random(7)), session=session, sleep=clock.sleep)
    return client, clock


def test_retries_503_and_429_then_returns_the_body():
    session = ScriptedSession(api_error(503, 'backend'), api_error(429, 'quota', 'rateLimitExceeded'),
                              response(200, {'name': 'f'}))
    client, clock = make_client(session)
    assert client.get(URL) == {'name': 'f'}
    assert len(session.calls) == 3
    assert [entry['cause'] for entry in client.retried] == [503, 429]
    assert len(clock.sleeps) == 2


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap():
    policy = RetryPolicy(base=0.5, cap=30.0, rng=random.Random(1))
    for attempt in range(10):
        ceiling = min(30.0, 0.5 * 2 ** attempt)
        delays = [policy.delay(attempt) for dummy in range(200)]
        assert all(0 <= delay <= ceiling for delay in delays)
        # Jitter spreads the delays over the whole window rather than a fixed value.
        assert max(delays) - min(delays) > ceiling * 0.5


def test_retry_after_header_is_honoured_and_capped():
    session = ScriptedSession(api_error(429, 'slow down'), response(200, {}))
    session.answers[0].headers['Retry-After'] = '7'
    client, clock = make_client(session)
    client.get(URL)
    assert clock.sleeps == [7.0]
    assert RetryPolicy(cap=30.0).delay(0, retry_after=120) == 30.0


def test_gives_up_after_the_configured_retries_with_googles_message():
    session = ScriptedSession(*[api_error(503, 'The service is currently unavailable.') for dummy in range(3)])
    client, dummy = make_client(session, retries=2)
    with pytest.raises(GcpApiError) as caught:
        client.get(URL)
    assert len(session.calls) == 3
    assert str(caught.value) == ('GCP API error 503 UNAVAILABLE on GET %s: The service is currently unavailable. '
                                 '(reason: backendError)' % URL)


@pytest.mark.parametrize('status', [400, 403, 404, 409])
def test_client_errors_are_not_retried(status):
    session = ScriptedSession(api_error(status, 'nope', 'invalid', 'INVALID_ARGUMENT'))
    client, clock = make_client(session)
    with pytest.raises(GcpApiError) as caught:
        client.post(URL, {'name': 'f'})
    assert caught.value.status_code == status
    assert not clock.sleeps and len(session.calls) == 1


def test_connection_errors_are_retried_then_reported():
    session = ScriptedSession(requests.exceptions.ConnectionError('refused'), response(200, {'ok': True}))
    client, dummy = make_client(session)
    assert client.get(URL) == {'ok': True}
    assert client.retried[0]['cause'] == 'ConnectionError'

    session = ScriptedSession(*[requests.exceptions.ConnectTimeout('timed out')] * 2)
    client, dummy = make_client(session, retries=1)
    with pytest.raises(GcpError, match=r'GET .* failed after 2 attempts: timed out'):
        client.get(URL)


def test_get_or_none_maps_404_to_none_only():
    client, dummy = make_client(ScriptedSession(api_error(404, "The resource 'f' was not found", 'notFound', 'NOT_FOUND')))
    assert client.get_or_none(URL) is None
    client, dummy = make_client(ScriptedSession(api_error(403, 'denied', 'forbidden', 'PERMISSION_DENIED')))
    with pytest.raises(GcpApiError, match='403 PERMISSION_DENIED'):
        client.get_or_none(URL)


def test_non_json_error_bodies_are_shown_shortened():
    client, dummy = make_client(ScriptedSession(response(502, '<html>Bad Gateway</html>' + 'x' * 500)), retries=0)
    with pytest.raises(GcpApiError) as caught:
        client.get(URL)
    assert '<html>Bad Gateway</html>' in str(caught.value)
    assert len(str(caught.value)) < 450


def test_empty_success_body_is_an_empty_dict():
    client, dummy = make_client(ScriptedSession(response(204)))
    assert client.delete(URL) == {}


@pytest.mark.parametrize('reason', ['rateLimitExceeded', 'userRateLimitExceeded'])
def test_compute_rate_limit_403_is_retried_like_429(reason):
    # Compute Engine's answer to a request over its rate quota (https://cloud.google.com/compute/api-quota).
    session = ScriptedSession(api_error(403, 'Rate Limit Exceeded', reason, 'PERMISSION_DENIED'),
                              response(200, {'name': 'f'}))
    client, clock = make_client(session)
    assert client.get(URL) == {'name': 'f'}
    assert [entry['cause'] for entry in client.retried] == ['403 ' + reason] and len(clock.sleeps) == 1


@pytest.mark.parametrize('reason', ['forbidden', 'quotaExceeded'])
def test_other_403s_are_final(reason):
    session = ScriptedSession(api_error(403, "Quota 'SSD_TOTAL_GB' exceeded.  Limit: 500.0 in region us-west2.",
                                        reason, 'PERMISSION_DENIED'))
    client, clock = make_client(session)
    with pytest.raises(GcpApiError, match='reason: %s' % reason):
        client.post(URL, {'name': 'f'})
    assert not clock.sleeps and len(session.calls) == 1


def test_a_rate_limit_403_that_persists_fails_after_the_retries_with_googles_message():
    session = ScriptedSession(*[api_error(403, 'Rate Limit Exceeded', 'rateLimitExceeded', 'PERMISSION_DENIED')] * 3)
    client, dummy = make_client(session, retries=2)
    with pytest.raises(GcpApiError, match=r'403 PERMISSION_DENIED on GET .*: Rate Limit Exceeded '
                                          r'\(reason: rateLimitExceeded\)'):
        client.get(URL)
    assert len(session.calls) == 3
