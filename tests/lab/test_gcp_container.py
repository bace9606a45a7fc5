"""container v1 stand-in: clusters get the lab's addresses and a Kubernetes backend; refusals match GKE's."""

import base64
import time

import pytest

from lab.gcp.backends import BackendError
from lab.gcp.operations import REAL_DURATIONS
from tests.lab.gcp_lab import PROJECT, TIME_SCALE
from tests.lab.gcp_lab import CONTAINER, assert_google_error, wait_done

LOCATION = CONTAINER + 'locations/us-west2-a/'


def _cluster(name='west', **fields):
    body = {'name': name, 'initialNodeCount': 2, 'nodeConfig': {'machineType': 'e2-standard-4'},
            'ipAllocationPolicy': {'useIpAliases': True}}
    body.update(fields)
    return {'cluster': body}


def _create(session, name='west', **fields):
    response = session.post(LOCATION + 'clusters', json=_cluster(name, **fields))
    assert response.status_code == 200, response.text
    return response.json()


def test_cluster_create_follows_the_profile_and_gets_lab_addresses(session, gcp, backends, lab_ca):
    started = time.monotonic()
    operation = _create(session)
    assert operation['operationType'] == 'CREATE_CLUSTER' and operation['status'] in ('PENDING', 'RUNNING')
    provisioning = session.get(LOCATION + 'clusters/west').json()
    assert provisioning['status'] == 'PROVISIONING' and 'endpoint' not in provisioning
    done = wait_done(session, operation)
    assert time.monotonic() - started >= REAL_DURATIONS['CREATE_CLUSTER'] * TIME_SCALE
    assert 'error' not in done
    cluster = session.get(done['targetLink']).json()
    assert cluster['status'] == 'RUNNING'
    assert cluster['endpoint'] == '127.0.10.1'
    assert cluster['clusterIpv4Cidr'] == '10.4.0.0/14' and cluster['servicesIpv4Cidr'] == '10.8.0.0/20'
    assert cluster['ipAllocationPolicy']['useIpAliases'] is True
    assert base64.b64decode(cluster['masterAuth']['clusterCaCertificate']) == lab_ca.cert_pem
    assert cluster['nodePools'][0]['name'] == 'default-pool' and cluster['nodeConfig']['machineType'] == 'e2-standard-4'
    spec = backends[0].created[0]
    assert (spec.name, spec.number, spec.endpoint, spec.node_ip) == ('west', 1, '127.0.10.1', '10.168.0.10')
    # The zones route and the locations route see the same cluster.
    assert session.get(CONTAINER + 'zones/us-west2-a/clusters/west').json()['id'] == cluster['id']
    listed = session.get(CONTAINER + 'locations/-/clusters').json()
    assert [c['name'] for c in listed['clusters']] == ['west']


def test_second_cluster_gets_the_next_addresses(session, gcp):
    wait_done(session, _create(session))
    wait_done(session, _create(session, 'east'))
    east = session.get(LOCATION + 'clusters/east').json()
    assert east['endpoint'] == '127.0.10.2'
    assert east['clusterIpv4Cidr'] == '10.12.0.0/14' and east['servicesIpv4Cidr'] == '10.16.0.0/20'


def test_node_pool_and_cluster_delete(session, gcp, backends):
    wait_done(session, _create(session))
    done = wait_done(session, session.delete(LOCATION + 'clusters/west/nodePools/default-pool').json())
    assert done['operationType'] == 'DELETE_NODE_POOL' and 'error' not in done
    assert_google_error(session.get(LOCATION + 'clusters/west/nodePools/default-pool'), 404, 'NOT_FOUND', 'notFound')
    done = wait_done(session, session.delete(LOCATION + 'clusters/west').json())
    assert done['operationType'] == 'DELETE_CLUSTER'
    assert [spec.name for spec in backends[0].deleted] == ['west']
    assert_google_error(session.get(LOCATION + 'clusters/west'), 404, 'NOT_FOUND', 'notFound',
                        'Not found: projects/%s/locations/us-west2-a/clusters/west.' % PROJECT)


def test_operations_are_listed_and_fetched(session, gcp):
    operation = _create(session)
    fetched = session.get(LOCATION + 'operations/' + operation['name']).json()
    assert fetched['name'] == operation['name']
    assert [op['name'] for op in session.get(LOCATION + 'operations').json()['operations']] == [operation['name']]
    assert_google_error(session.get(LOCATION + 'operations/operation-404'), 404, 'NOT_FOUND')


def test_duplicate_cluster_is_409(session, gcp):
    _create(session)
    assert_google_error(session.post(LOCATION + 'clusters', json=_cluster()), 409, 'ALREADY_EXISTS', 'alreadyExists',
                        'Already exists: projects/%s/locations/us-west2-a/clusters/west.' % PROJECT)


def test_deleting_a_cluster_while_it_is_created_is_refused(session, gcp):
    _create(session)
    assert_google_error(session.delete(LOCATION + 'clusters/west'), 400, 'FAILED_PRECONDITION')


@pytest.mark.parametrize('body, message', [
    (_cluster('West_1'), 'Invalid value for field "cluster.name"'),
    (_cluster('a' * 41), 'Invalid value for field "cluster.name"'),
    (_cluster(colour='blue'), 'Unknown name "colour" at \'cluster\''),
    (_cluster(initialNodeCount='two'), "Invalid value at 'cluster.initialNodeCount' (TYPE_INT32)"),
    (_cluster(releaseChannel={'channel': 'NIGHTLY'}), "'cluster.releaseChannel.channel' (TYPE_ENUM)"),
    (_cluster(nodeConfig={'machineType': 'e2-huge'}), 'Invalid machine type "e2-huge"'),
    (_cluster(network='vpc-x'), 'Network "vpc-x" does not exist.'),
    (_cluster(initialClusterVersion='1.19'), 'Master version "1.19" is unsupported.'),
    ({'clusterz': {}}, 'Unknown name "clusterz"'),
])
def test_cluster_requests_gke_refuses(session, gcp, body, message):
    assert_google_error(session.post(LOCATION + 'clusters', json=body), 400, 'INVALID_ARGUMENT', None, message)


def test_unknown_location_is_refused(session, gcp):
    assert_google_error(session.post(CONTAINER + 'locations/mars-north1-a/clusters', json=_cluster()), 400, 'INVALID_ARGUMENT',
                        None, 'Location "mars-north1-a" does not exist.')


def test_injected_failure_and_backend_failure_fail_the_operation(session, gcp, backends):
    gcp.operations.fail_next('CREATE_CLUSTER', 'Insufficient regional quota to satisfy request.')
    failed = wait_done(session, _create(session))
    assert failed['error']['message'] == 'Insufficient regional quota to satisfy request.'
    assert_google_error(session.get(LOCATION + 'clusters/west'), 404, 'NOT_FOUND')
    backends[0].failures.append(BackendError('kube-apiserver did not start'))
    failed = wait_done(session, _create(session))
    assert failed['error']['message'] == 'kube-apiserver did not start'
    assert_google_error(session.get(LOCATION + 'clusters/west'), 404, 'NOT_FOUND')


# -- GKE's own operations, node pools' instance groups, logging and monitoring, quotas ------------------------------

def _operations(session):
    return session.get(LOCATION + 'operations').json().get('operations', [])


def test_gke_starts_an_operation_of_its_own_after_creation_and_refuses_changes_meanwhile(session, gcp):
    gcp.settings.gke_operation_after_create = 'UPGRADE_NODES'
    gcp.settings.durations['UPGRADE_NODES'] = 2000.0  # 4 s at the tests' time scale
    wait_done(session, _create(session))
    own = [op for op in _operations(session) if op['operationType'] == 'UPGRADE_NODES']
    assert len(own) == 1 and own[0]['status'] in ('PENDING', 'RUNNING')
    assert own[0]['targetLink'].endswith('/clusters/west/nodePools/default-pool')
    cluster = session.get(LOCATION + 'clusters/west').json()
    assert cluster['status'] == 'RUNNING' and cluster['nodePools'][0]['status'] == 'RECONCILING'
    refusals = [
        session.put(LOCATION + 'clusters/west', json={'update': {'desiredReleaseChannel': {'channel': 'STABLE'}}}),
        session.post(LOCATION + 'clusters/west/nodePools/default-pool:setSize', json={'nodeCount': 3}),
        session.post(LOCATION + 'clusters/west:setResourceLabels',
                     json={'resourceLabels': {'a': 'b'}, 'labelFingerprint': cluster['labelFingerprint']}),
        session.delete(LOCATION + 'clusters/west'),
    ]
    for refused in refusals:
        assert_google_error(refused, 400, 'FAILED_PRECONDITION', 'failedPrecondition',
                            'Operation %s is currently upgrading cluster west. Please wait and try again once it is '
                            'done.' % own[0]['name'])
    wait_done(session, own[0], timeout=30)
    done = wait_done(session, session.post(LOCATION + 'clusters/west/nodePools/default-pool:setSize',
                                           json={'nodeCount': 3}).json())
    assert done['operationType'] == 'SET_NODE_POOL_SIZE' and 'error' not in done


def test_other_operation_types_are_refused_as_incompatible(session, gcp):
    wait_done(session, _create(session))
    gcp.settings.durations['UPDATE_CLUSTER'] = 2000.0
    gcp.container.start_gke_operation(PROJECT, 'us-west2-a', 'west', 'UPDATE_CLUSTER')
    assert_google_error(session.delete(LOCATION + 'clusters/west'), 400, 'FAILED_PRECONDITION', 'failedPrecondition',
                        'Cluster is running incompatible operation operation-')


def test_pools_have_an_instance_group_per_zone_that_set_size_resizes(session, gcp):
    wait_done(session, _create(session))
    pool = session.get(LOCATION + 'clusters/west/nodePools/default-pool').json()
    [url] = pool['instanceGroupUrls']
    assert url.startswith('https://www.googleapis.com/compute/v1/projects/%s/zones/us-west2-a/instanceGroupManagers/'
                          'gke-west-default-pool-' % PROJECT) and url.endswith('-grp')
    group = session.get(url).json()
    assert group['targetSize'] == 2 and group['zone'].endswith('/zones/us-west2-a')
    wait_done(session, session.post(LOCATION + 'clusters/west/nodePools/default-pool:setSize',
                                    json={'nodeCount': 4}).json())
    assert session.get(url).json()['targetSize'] == 4
    pool = session.get(LOCATION + 'clusters/west/nodePools/default-pool').json()
    assert pool['initialNodeCount'] == 2  # stays at the creation value
    assert session.get(LOCATION + 'clusters/west').json()['currentNodeCount'] == 4
    assert_google_error(session.get(url.replace('-grp', '-nope-grp')), 404, 'NOT_FOUND')


def test_current_node_count_counts_the_surge_node_during_an_upgrade_and_the_groups_do_not(session, gcp):
    wait_done(session, _create(session))
    gcp.settings.durations['UPGRADE_NODES'] = 2000.0
    upgrade = gcp.container.start_gke_operation(PROJECT, 'us-west2-a', 'west')
    cluster = session.get(LOCATION + 'clusters/west').json()
    assert cluster['currentNodeCount'] == 3
    assert session.get(cluster['nodePools'][0]['instanceGroupUrls'][0]).json()['targetSize'] == 2
    wait_done(session, upgrade, timeout=30)
    assert session.get(LOCATION + 'clusters/west').json()['currentNodeCount'] == 2


def test_set_resource_labels_needs_the_current_fingerprint(session, gcp):
    wait_done(session, _create(session))
    fingerprint = session.get(LOCATION + 'clusters/west').json()['labelFingerprint']
    assert_google_error(session.post(LOCATION + 'clusters/west:setResourceLabels',
                                     json={'resourceLabels': {'team': 'mesh'}, 'labelFingerprint': 'stale'}),
                        400, 'FAILED_PRECONDITION', None, 'fingerprint mismatch')
    wait_done(session, session.post(LOCATION + 'clusters/west:setResourceLabels',
                                    json={'resourceLabels': {'team': 'mesh'}, 'labelFingerprint': fingerprint}).json())
    cluster = session.get(LOCATION + 'clusters/west').json()
    assert cluster['resourceLabels'] == {'team': 'mesh'} and cluster['labelFingerprint'] != fingerprint


@pytest.mark.parametrize('update, message', [
    ({'desiredLoggingService': 'none'},
     '"logging.googleapis.com/kubernetes" and "monitoring.googleapis.com/kubernetes" can only be set together (was '
     '"none" and "").'),
    ({'desiredMonitoringService': 'none'}, 'can only be set together (was "" and "none").'),
    ({'desiredMonitoringService': 'monitoring.googleapis.com'},
     'Legacy monitoring is not supported in clusters running Kubernetes 1.15 or above.'),
    ({'desiredLoggingService': 'logging.googleapis.com', 'desiredMonitoringService': 'none'}, 'Legacy logging'),
])
def test_logging_and_monitoring_combinations_gke_refuses(session, gcp, update, message):
    wait_done(session, _create(session))
    assert_google_error(session.put(LOCATION + 'clusters/west', json={'update': update}), 400, 'INVALID_ARGUMENT',
                        'badRequest', message)


def test_logging_and_monitoring_change_together_in_one_update(session, gcp):
    wait_done(session, _create(session))
    wait_done(session, session.put(LOCATION + 'clusters/west', json={'update': {
        'desiredLoggingService': 'none', 'desiredMonitoringService': 'none'}}).json())
    cluster = session.get(LOCATION + 'clusters/west').json()
    assert (cluster['loggingService'], cluster['monitoringService']) == ('none', 'none')
    assert_google_error(session.post(LOCATION + 'clusters', json=_cluster('east', loggingService='none')), 400,
                        'INVALID_ARGUMENT', 'badRequest', 'can only be set together')


def test_nodes_count_against_the_regions_quotas(session, gcp):
    gcp.settings.quotas['SSD_TOTAL_GB'] = 500.0
    refused = session.post(LOCATION + 'clusters', json=_cluster(initialNodeCount=6))
    assert_google_error(refused, 403, 'PERMISSION_DENIED', 'forbidden',
                        'Insufficient regional quota to satisfy request: resource "SSD_TOTAL_GB": request requires '
                        "'600.0' and is short '100.0'. project has a quota of '500.0' with '500.0' available. View and "
                        'manage quotas at https://console.cloud.google.com/iam-admin/quotas?usage=USED&project=%s.'
                        % PROJECT)
    wait_done(session, _create(session, initialNodeCount=3))
    region = session.get('https://compute.googleapis.com/compute/v1/projects/%s/regions/us-west2' % PROJECT).json()
    usage = dict((quota['metric'], quota['usage']) for quota in region['quotas'])
    assert usage['SSD_TOTAL_GB'] == 300.0 and usage['CPUS'] == 12.0 and usage['IN_USE_ADDRESSES'] == 3.0
    assert_google_error(session.post(LOCATION + 'clusters/west/nodePools/default-pool:setSize', json={'nodeCount': 6}),
                        403, 'PERMISSION_DENIED', 'forbidden', "request requires '300.0' and is short '100.0'")
