"""Adopting a resource after an insert answered 409: only when that insert was itself retried (its first try may
have gone through), and then the adopted resource is compared and updated like any existing one."""

import random

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.client import GcpClient, RetryPolicy
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.compute import Firewall
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.container import Cluster
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import (
    GcpApiError, GcpConflictError, GcpOperationError)
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.operations import OperationWaiter, Poller

from ..fake_clock import FakeClock
from .fakes import ScriptedSession, api_error, response
from .test_resources import cluster_params, firewall_params

COLLECTION = 'https://compute.googleapis.com/compute/v1/projects/p/global/firewalls'
RULE = COLLECTION + '/k8s-to-istio-gce'
DONE = {'name': 'op-1', 'status': 'DONE', 'operationType': 'insert', 'targetLink': RULE}


def existing_rule(**fields):
    rule = {'name': 'k8s-to-istio-gce', 'kind': 'compute#firewall', 'id': '123', 'selfLink': RULE,
            'network': 'https://www.googleapis.com/compute/v1/projects/p/global/networks/default',
            'direction': 'INGRESS', 'priority': 1000, 'description': '', 'sourceRanges': ['10.4.0.0/14'],
            'targetTags': ['istio-gce'], 'allowed': [{'IPProtocol': 'tcp', 'ports': ['3550']}]}
    rule.update(fields)
    return rule


def not_found():
    return api_error(404, "The resource 'k8s-to-istio-gce' was not found", 'notFound', 'NOT_FOUND')


def already_exists():
    return api_error(409, "The resource 'k8s-to-istio-gce' already exists", 'alreadyExists', 'ALREADY_EXISTS')


def run(*answers, check_mode=False, **overrides):
    session = ScriptedSession(*answers)
    clock = FakeClock()
    client = GcpClient(policy=RetryPolicy(retries=3, rng=random.Random(3)), session=session, sleep=clock.sleep)
    params = firewall_params(**overrides)
    firewall = Firewall(client, params, OperationWaiter(client, Poller(clock=clock, sleep=clock.sleep)))
    result = firewall.run(params['state'], check_mode)
    assert not session.answers, 'requests expected but not made: %d' % len(session.answers)
    return result, session.calls


def test_a_409_is_not_adopted_when_only_an_earlier_request_was_retried():
    with pytest.raises(GcpApiError) as caught:
        run(api_error(503, 'backend'), not_found(), already_exists())
    assert caught.value.status_code == 409


@pytest.mark.parametrize('refusal', [
    api_error(429, 'quota', 'rateLimitExceeded', 'RESOURCE_EXHAUSTED'),
    api_error(403, 'Rate Limit Exceeded', 'rateLimitExceeded', 'PERMISSION_DENIED'),
], ids=['429', '403-rate-limit'])
def test_a_409_is_not_adopted_when_the_insert_was_retried_after_a_rate_limit(refusal):
    # A rate limit refuses a request before the API acts on it: the first try created nothing, so someone else's
    # rule answered.
    with pytest.raises(GcpApiError) as caught:
        run(not_found(), refusal, already_exists())
    assert caught.value.status_code == 409


def test_an_adopted_rule_that_matches_is_reported_as_created():
    result, calls = run(not_found(), api_error(503, 'backend'), already_exists(), response(200, existing_rule()))
    assert [call[0] for call in calls] == ['GET', 'POST', 'POST', 'GET']
    assert result['changed'] and result['firewall']['id'] == '123'
    assert result['diff']['before'] == {} and result['diff']['after']['sourceRanges'] == ['10.4.0.0/14']
    assert [entry['method'] for entry in result['api_retries']] == ['POST']


def test_an_adopted_rule_that_differs_is_updated_to_the_parameters():
    adopted = existing_rule(sourceRanges=['0.0.0.0/0'], targetTags=[])
    updated = existing_rule()
    result, calls = run(not_found(), api_error(502, 'bad gateway'), already_exists(), response(200, adopted),
                        response(200, DONE), response(200, updated))
    method, url, body = calls[4]
    assert (method, url) == ('PATCH', RULE)
    assert body == {'name': 'k8s-to-istio-gce', 'sourceRanges': ['10.4.0.0/14'], 'targetTags': ['istio-gce']}
    assert result['changed'] and result['firewall'] == updated
    assert result['diff']['after']['sourceRanges'] == ['10.4.0.0/14']


def test_an_adopted_rule_that_differs_where_it_cannot_change_is_refused():
    adopted = existing_rule(network='https://www.googleapis.com/compute/v1/projects/p/global/networks/other')
    with pytest.raises(GcpConflictError, match=r"differs in network, which cannot change in place: network is 'other'"):
        run(not_found(), api_error(503, 'backend'), already_exists(), response(200, adopted))


def test_without_any_retry_a_409_stays_an_error():
    with pytest.raises(GcpApiError, match='409 ALREADY_EXISTS'):
        run(not_found(), already_exists())


def test_an_adopted_cluster_in_error_is_not_taken_for_a_created_one():
    session = ScriptedSession(api_error(404, 'Not found: west', 'notFound', 'NOT_FOUND'), api_error(503, 'backend'),
                              api_error(409, 'Already exists: west', 'alreadyExists', 'ALREADY_EXISTS'),
                              response(200, {'name': 'west', 'status': 'ERROR', 'statusMessage': 'quota'}))
    clock = FakeClock()
    client = GcpClient(policy=RetryPolicy(retries=3, rng=random.Random(3)), session=session, sleep=clock.sleep)
    params = cluster_params()
    cluster = Cluster(client, params, OperationWaiter(client, Poller(clock=clock, sleep=clock.sleep)),
                      poller=Poller(clock=clock, sleep=clock.sleep))
    with pytest.raises(GcpOperationError, match=r'clusters/west answered a retried insert with 409 .* and is in '
                                                r'status ERROR \(quota\); run again to replace it'):
        cluster.run('present', False)
    assert [call[0] for call in session.calls] == ['GET', 'POST', 'POST', 'GET']
