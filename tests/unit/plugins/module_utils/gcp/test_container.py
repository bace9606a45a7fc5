"""GKE clusters: what the module plans for a cluster in ERROR, how it counts nodes, how it changes a cluster GKE is
busy with, how it changes logging and monitoring, which names and combinations it refuses."""

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import (
    GcpApiError, GcpConflictError, GcpInputError, GcpOperationError)

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


REGION_ZONES = ('us-west2-a', 'us-west2-b', 'us-west2-c')
REGIONAL = URL.replace('us-west2-a', 'us-west2')


def regional_cluster_as_api_returns(url, body):
    """A regional cluster: the pool's nodes in each of the region's zones, a managed instance group in each."""
    return cluster_as_api_returns(url, body, zones=REGION_ZONES)


def groups(api, pool='default-pool'):
    return [group for group in api.resources.values()
            if group.get('kind') == 'compute#instanceGroupManager' and group['pool'] == pool]


def test_regional_cluster_compares_nodes_per_zone():
    api = FakeApi(regional_cluster_as_api_returns)
    run_cluster(api, location='us-west2', node_count=2)
    assert api.resources[REGIONAL]['currentNodeCount'] == 6 and len(groups(api)) == 3
    again = run_cluster(api, location='us-west2', node_count=2)
    assert not again['changed'] and again['changed_fields'] == [] and len(api.mutations) == 1
    assert again['diff']['before']['nodeCount'] == 2
    resized = run_cluster(api, location='us-west2', node_count=3)
    assert resized['changed_fields'] == ['nodeCount'] and resized['diff']['before']['nodeCount'] == 2
    assert api.mutations[-1][1].endswith('/nodePools/default-pool:setSize') and api.mutations[-1][2] == {'nodeCount': 3}
    assert not run_cluster(api, location='us-west2', node_count=3)['changed']


def test_regional_cluster_with_a_zone_short_of_nodes_shows_each_zone_and_is_resized():
    api = FakeApi(regional_cluster_as_api_returns)
    run_cluster(api, location='us-west2', node_count=2)
    groups(api)[1]['targetSize'] = 1
    result = run_cluster(api, location='us-west2', node_count=2, check_mode=True)
    assert result['changed_fields'] == ['nodeCount']
    assert result['diff']['before']['nodeCount'] == {'us-west2-a': 2, 'us-west2-b': 1, 'us-west2-c': 2}


def test_surge_nodes_counted_by_current_node_count_are_not_a_change():
    # During a surge upgrade the deprecated currentNodeCount counts the extra node; the pool's groups do not.
    api = FakeApi(cluster_as_api_returns)
    run_cluster(api)
    api.resources[URL]['currentNodeCount'] = 6
    result = run_cluster(api, check_mode=True)
    assert not result['changed'] and result['diff']['before']['nodeCount'] == 5


def test_a_resized_pool_of_a_cluster_with_two_pools_is_counted_from_its_groups():
    # initialNodeCount stays at its creation value after setSize; currentNodeCount counts both pools.
    api = FakeApi(cluster_as_api_returns)
    run_cluster(api)
    other = dict(api.resources[URL]['nodePools'][0], name='other-pool', initialNodeCount=1, instanceGroupUrls=[])
    api.resources[URL]['nodePools'].append(other)
    assert run_cluster(api, node_count=3)['changed_fields'] == ['nodeCount']
    assert api.resources[URL]['nodePools'][0]['initialNodeCount'] == 5 and groups(api)[0]['targetSize'] == 3
    again = run_cluster(api, node_count=3)
    assert not again['changed'] and again['diff']['before']['nodeCount'] == 3


def test_a_pool_without_groups_yet_counts_its_initial_nodes_and_a_gone_group_is_skipped():
    api = FakeApi(cluster_as_api_returns)
    run_cluster(api)
    pool = api.resources[URL]['nodePools'][0]
    stale = pool['instanceGroupUrls'][0].replace('-grp', '-old-grp')
    pool['instanceGroupUrls'].insert(0, stale)
    assert not run_cluster(api, check_mode=True)['changed']
    pool['instanceGroupUrls'] = []
    assert run_cluster(api, check_mode=True)['diff']['before']['nodeCount'] == 5


# -- a cluster busy with operations, GKE's own included --------------------------------------------------------------

OPERATIONS = 'https://container.googleapis.com/v1/projects/p/locations/us-west2-a/operations'
BUSY = ('{"error": {"code": 400, "message": "Cluster is running incompatible operation operation-7.", '
        '"status": "FAILED_PRECONDITION", "errors": [{"reason": "failedPrecondition", "domain": "global", '
        '"message": "Cluster is running incompatible operation operation-7."}]}}')


def gke_operation(name, target, status='RUNNING', operation_type='UPGRADE_NODES'):
    return {'name': name, 'operationType': operation_type, 'status': status, 'targetLink': target,
            'selfLink': 'https://container.googleapis.com/v1/projects/123/zones/us-west2-a/operations/' + name}


def busy_cluster():
    """A cluster on which GKE runs a node upgrade of its own (its links with the project's number and zones/, as
    GKE writes them), next to an operation on another cluster and a finished one."""
    api = FakeApi(cluster_as_api_returns)
    run_cluster(api)
    pool = 'https://container.googleapis.com/v1/projects/123/zones/us-west2-a/clusters/west/nodePools/default-pool'
    running = gke_operation('operation-7', pool)
    api.resources[OPERATIONS] = {'operations': [
        gke_operation('operation-5', pool.replace('/clusters/west/', '/clusters/west-2/')),
        gke_operation('operation-6', pool, status='DONE', operation_type='SET_LABELS'),
        running]}
    api.resources[running['selfLink']] = dict(running, status='DONE')
    return api


def test_a_change_waits_for_gkes_own_operation_on_the_cluster_first():
    api = busy_cluster()
    result = run_cluster(api, node_count=3)
    assert result['changed_fields'] == ['nodeCount']
    # GKE's operation first (waited for: polled until DONE), then the resize's own.
    assert [(record['operation'], record['status'], record['polls']) for record in result['operations']] == [
        ('operation-7', 'DONE', 1), ('op', 'DONE', 0)]
    assert api.mutations[-1][1].endswith(':setSize')
    assert any('cluster west was busy with operation operation-7 (UPGRADE_NODES on ' in warning and 'until it was done'
               in warning for warning in result['warnings'])


def test_a_run_that_changes_nothing_does_not_wait_for_gkes_operations():
    api = busy_cluster()
    result = run_cluster(api)
    assert not result['changed'] and [record['operation'] for record in result['operations']] == []


def test_a_busy_refusal_is_retried_with_backoff_and_reported():
    api = FakeApi(cluster_as_api_returns)
    run_cluster(api)
    setsize = URL + '/nodePools/default-pool:setSize'
    api.refusals = [GcpApiError('POST', setsize, 400, BUSY), GcpApiError('POST', setsize, 400, BUSY)]
    result = run_cluster(api, node_count=3)
    assert result['changed'] and [m[1] for m in api.mutations[1:]] == [setsize] * 3
    assert [(entry['cause'], entry['attempt']) for entry in result['api_retries']] == [
        ('400 FAILED_PRECONDITION', 1), ('400 FAILED_PRECONDITION', 2)]
    assert result['api_retries'][0]['message'] == 'Cluster is running incompatible operation operation-7.'


def test_teardown_of_a_busy_cluster_is_retried():
    api = FakeApi(cluster_as_api_returns)
    run_cluster(api)
    api.refusals = [GcpApiError('DELETE', URL, 400, BUSY.replace(
        'Cluster is running incompatible operation operation-7.',
        'Operation operation-7 is currently upgrading cluster west. Please wait and try again once it is done.'))]
    result = run_cluster(api, state='absent')
    assert result['changed'] and URL not in api.resources and len(result['api_retries']) == 1


def test_a_cluster_that_stays_busy_fails_after_api_retries_naming_the_operation():
    api = FakeApi(cluster_as_api_returns)
    run_cluster(api)
    setsize = URL + '/nodePools/default-pool:setSize'
    api.policy.retries = 2
    api.refusals = [GcpApiError('POST', setsize, 400, BUSY) for dummy in range(3)]
    with pytest.raises(GcpOperationError, match=r'cluster west stayed busy: GKE refused POST .*:setSize 3 times .*'
                                                r'incompatible operation operation-7'):
        run_cluster(api, node_count=3)
    assert len(api.mutations) == 4


def test_other_failed_preconditions_are_not_retried():
    api = FakeApi(cluster_as_api_returns)
    run_cluster(api)
    refusal = BUSY.replace('Cluster is running incompatible operation operation-7.',
                           'Labels could not be set due to fingerprint mismatch.')
    api.refusals = [GcpApiError('POST', URL + ':setResourceLabels', 400, refusal)]
    with pytest.raises(GcpApiError, match='fingerprint mismatch'):
        run_cluster(api, resource_labels={'team': 'mesh'})
    assert len(api.mutations) == 2


# -- logging and monitoring -------------------------------------------------------------------------------------------

def test_logging_and_monitoring_change_in_one_cluster_update():
    api = FakeApi(cluster_as_api_returns)
    run_cluster(api)
    result = run_cluster(api, cloud_logging=False, cloud_monitoring=False)
    assert result['changed_fields'] == ['loggingService', 'monitoringService']
    assert api.mutations[1:] == [('PUT', URL, {'update': {'desiredLoggingService': 'none',
                                                          'desiredMonitoringService': 'none'}})]


@pytest.mark.parametrize('logging, monitoring', [(True, False), (False, True)])
def test_logging_without_monitoring_or_the_reverse_is_refused_before_any_call(logging, monitoring):
    api = FakeApi(cluster_as_api_returns)
    with pytest.raises(GcpInputError, match=r'cloud_logging=%s with cloud_monitoring=%s: GKE takes the Kubernetes '
                                            r'logging and monitoring services .* only together .* Set both to true '
                                            r'.* or both to false' % (logging, monitoring)):
        run_cluster(api, cloud_logging=logging, cloud_monitoring=monitoring)
    assert not api.mutations


def test_disk_type_is_set_at_creation_and_cannot_change_in_place():
    api = FakeApi(cluster_as_api_returns)
    run_cluster(api, disk_type='pd-standard')
    assert api.mutations[0][2]['cluster']['nodePools'][0]['config']['diskType'] == 'pd-standard'
    assert not run_cluster(api, disk_type='pd-standard')['changed']
    with pytest.raises(GcpConflictError, match=r"diskType is 'pd-standard', wanted 'pd-balanced'"):
        run_cluster(api)
    with pytest.raises(GcpInputError, match=r"disk_type='hdd' is not a node disk type"):
        run_cluster(api, disk_type='hdd')


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
