"""GKE clusters: what the module plans for a cluster in ERROR, how it counts nodes, which names it refuses."""

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import GcpInputError

from .test_resources import FakeApi, cluster_as_api_returns, run_cluster

URL = 'https://container.googleapis.com/v1/projects/p/locations/us-west2-a/clusters/west'


def cluster_in_error():
    api = FakeApi(cluster_as_api_returns)
    run_cluster(api)
    api.resources[URL].update(status='ERROR', statusMessage='Insufficient regional quota')
    return api


def test_absent_deletes_a_cluster_in_error_and_says_so():
    api = cluster_in_error()
    predicted = run_cluster(api, state='absent', check_mode=True)
    assert predicted['changed'] and predicted['diff']['before']['nodeCount'] == 5 and predicted['diff']['after'] == {}
    assert len(api.mutations) == 1 and URL in api.resources  # check mode deleted nothing
    result = run_cluster(api, state='absent')
    assert result['changed'] and result['changed_fields'] == predicted['changed_fields'] != []
    assert [m[0] for m in api.mutations] == ['POST', 'DELETE'] and URL not in api.resources
    assert result['diff'] == predicted['diff']


def test_present_replaces_a_cluster_in_error_and_the_plan_shows_it():
    api = cluster_in_error()
    predicted = run_cluster(api, check_mode=True)
    assert len(api.mutations) == 1 and api.resources[URL]['status'] == 'ERROR'  # check mode deleted nothing
    assert predicted['changed'] and predicted['diff']['before']['machineType'] == 'n1-standard-2'
    assert 'ERROR' in predicted['diff']['before_header'] and 'Insufficient regional quota' in predicted['diff']['before_header']
    assert 'deleted' in predicted['diff']['before_header'] and 'created again' in predicted['diff']['after_header']
    result = run_cluster(api)
    assert [m[0] for m in api.mutations] == ['POST', 'DELETE', 'POST'] and api.resources[URL]['status'] == 'RUNNING'
    assert result['changed'] and result['changed_fields'] == predicted['changed_fields']
    assert result['diff'] == predicted['diff'] and result['cluster']['status'] == 'RUNNING'
    assert any('was deleted and created again' in warning for warning in result['warnings'])


REGION_ZONES = ['us-west2-a', 'us-west2-b', 'us-west2-c']


def regional_cluster_as_api_returns(url, body):
    """A regional cluster: the pool's nodes in each of the region's zones, currentNodeCount counting all of them."""
    body = cluster_as_api_returns(url, body)
    body['locations'] = list(REGION_ZONES)
    for pool in body['nodePools']:
        pool['locations'] = list(REGION_ZONES)
    body['currentNodeCount'] = body['nodePools'][0]['initialNodeCount'] * len(REGION_ZONES)
    return body


def test_regional_cluster_compares_nodes_per_zone():
    api = FakeApi(regional_cluster_as_api_returns)
    run_cluster(api, location='us-west2', node_count=2)
    assert api.resources[URL.replace('us-west2-a', 'us-west2')]['currentNodeCount'] == 6
    again = run_cluster(api, location='us-west2', node_count=2)
    assert not again['changed'] and again['changed_fields'] == [] and len(api.mutations) == 1
    assert again['diff']['before']['nodeCount'] == 2
    resized = run_cluster(api, location='us-west2', node_count=3)
    assert resized['changed_fields'] == ['nodeCount'] and resized['diff']['before']['nodeCount'] == 2
    assert api.mutations[-1][1].endswith('/nodePools/default-pool:setSize') and api.mutations[-1][2] == {'nodeCount': 3}


def test_regional_cluster_with_a_zone_short_of_nodes_is_resized():
    api = FakeApi(regional_cluster_as_api_returns)
    run_cluster(api, location='us-west2', node_count=2)
    api.resources[URL.replace('us-west2-a', 'us-west2')]['currentNodeCount'] = 5
    result = run_cluster(api, location='us-west2', node_count=2, check_mode=True)
    assert result['changed_fields'] == ['nodeCount'] and result['diff']['before']['nodeCount'] == 1.67


def test_zonal_cluster_counts_as_before():
    api = FakeApi(cluster_as_api_returns)
    run_cluster(api)
    assert not run_cluster(api)['changed']
    api.resources[URL]['nodePools'][0]['locations'] = ['us-west2-a']
    assert not run_cluster(api)['changed']
    api.resources[URL]['currentNodeCount'] = 4
    result = run_cluster(api, check_mode=True)
    assert result['changed_fields'] == ['nodeCount'] and result['diff']['before']['nodeCount'] == 4


@pytest.mark.parametrize('overrides, message', [
    ({'name': 'w' * 41}, r"name='w{41}' is 41 characters long: a GKE cluster name has at most 40"),
    ({'name': 'w' * 41, 'state': 'absent'}, r"name='w{41}' is 41 characters long"),
    ({'node_pool_name': 'p' * 41}, r"node_pool_name='p{41}' is 41 characters long: a GKE node pool name has at most 40"),
], ids=['name', 'name-absent', 'node_pool_name'])
def test_names_longer_than_gke_allows_are_refused_before_any_call(overrides, message):
    api = FakeApi(cluster_as_api_returns)
    with pytest.raises(GcpInputError, match=message):
        run_cluster(api, **overrides)
    assert not api.mutations


def test_names_of_40_characters_are_accepted():
    api = FakeApi(cluster_as_api_returns)
    assert run_cluster(api, name='w' * 40, node_pool_name='p' * 40)['changed']
