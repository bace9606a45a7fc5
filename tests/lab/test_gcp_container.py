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
