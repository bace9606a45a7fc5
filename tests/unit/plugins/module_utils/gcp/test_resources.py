"""Reconciliation of firewalls, instances and clusters: create once, then no change; check mode predicts and calls
nothing that mutates; diff shows only managed fields; bad input fails before any call."""

import copy
import random

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.client import RetryPolicy
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.compute import Firewall, Instance
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.container import Cluster
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import (
    GcpApiError, GcpConflictError, GcpInputError)
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.operations import OperationWaiter, Poller

from ..fake_clock import FakeClock

DONE = {'name': 'op', 'status': 'DONE', 'operationType': 'x'}


class FakeApi:
    """An in-memory API: resources by URL, operations finish at once. ``on_create`` shapes a created resource
    as the real API would (output fields, normalized URLs). A created node pool's ``instanceGroupUrls`` become
    instance groups of ``initialNodeCount`` nodes, which ``setSize`` resizes; a location's operations list is empty
    unless a test puts one there. ``refusals`` are errors the next mutations raise, in turn."""

    def __init__(self, on_create=None):
        self.resources = {}
        self.mutations = []
        self.retried = []
        self.refusals = []
        self.policy = RetryPolicy(rng=random.Random(3))
        self.on_create = on_create or (lambda url, body: body)

    def request(self, method, url, body=None, params=None):  # pylint: disable=unused-argument
        if method in ('GET', 'DELETE'):
            return getattr(self, method.lower())(url)
        return getattr(self, method.lower())(url, body)

    def get(self, url):
        if url not in self.resources:
            if url.endswith('/operations'):
                return {}
            raise GcpApiError('GET', url, 404, '{"error": {"code": 404, "message": "not found"}}')
        return copy.deepcopy(self.resources[url])

    def get_or_none(self, url):
        return copy.deepcopy(self.resources.get(url))

    def _refuse(self):
        if self.refusals:
            raise self.refusals.pop(0)

    def post(self, url, body=None):
        self.mutations.append(('POST', url, body))
        self._refuse()
        if url.endswith('/clusters'):
            body = body['cluster']
        if url.endswith(':setSize'):
            pool = url.rsplit('/nodePools/', 1)[1].split(':')[0]
            for group in self.resources.values():
                if group.get('kind') == 'compute#instanceGroupManager' and group['pool'] == pool:
                    group['targetSize'] = body['nodeCount']
            return dict(DONE)
        if '/set' in url or ':set' in url:
            return dict(DONE)
        created = self.resources['%s/%s' % (url, body['name'])] = self.on_create(url, copy.deepcopy(body))
        for pool in created.get('nodePools') or []:
            for group_url in pool.get('instanceGroupUrls') or []:
                self.resources[group_url] = {'kind': 'compute#instanceGroupManager', 'pool': pool['name'],
                                             'zone': group_url.split('/zones/')[1].split('/')[0],
                                             'targetSize': pool['initialNodeCount']}
        return dict(DONE)

    def patch(self, url, body=None):
        self.mutations.append(('PATCH', url, body))
        self.resources[url].update(body)
        return dict(DONE)

    def put(self, url, body=None):
        self.mutations.append(('PUT', url, body))
        self._refuse()
        return dict(DONE)

    def delete(self, url):
        self.mutations.append(('DELETE', url, None))
        self._refuse()
        del self.resources[url]
        return dict(DONE)


def waiter(api):
    clock = FakeClock()
    return OperationWaiter(api, Poller(clock=clock, sleep=clock.sleep))


def firewall_params(**overrides):
    params = dict(project='p', name='k8s-to-istio-gce', state='present', network='default', description='',
                  priority=1000, source_ranges=['10.4.0.0/14'], source_tags=[], target_tags=['istio-gce'],
                  allowed=[{'protocol': 'tcp', 'ports': ['3550']}], operation_timeout=300)
    params.update(overrides)
    return params


def firewall_as_api_returns(url, body):
    body.update(selfLink=url + '/' + body['name'], kind='compute#firewall', direction='INGRESS', id='123',
                creationTimestamp='2026-11-24T00:00:00Z', network=body['network'].replace(
                    'https://compute.googleapis.com', 'https://www.googleapis.com'))
    return body


def run_firewall(api, check_mode=False, **overrides):
    params = firewall_params(**overrides)
    return Firewall(api, params, waiter(api)).run(params['state'], check_mode)


def test_firewall_created_once_then_unchanged():
    api = FakeApi(firewall_as_api_returns)
    first = run_firewall(api)
    assert first['changed'] and first['firewall']['sourceRanges'] == ['10.4.0.0/14']
    method, url, body = api.mutations[0]
    assert (method, url) == ('POST', 'https://compute.googleapis.com/compute/v1/projects/p/global/firewalls')
    assert body['allowed'] == [{'IPProtocol': 'tcp', 'ports': ['3550']}] and body['targetTags'] == ['istio-gce']
    second = run_firewall(api)
    assert not second['changed'] and second['changed_fields'] == []
    assert len(api.mutations) == 1


def test_firewall_check_mode_predicts_without_mutating():
    api = FakeApi(firewall_as_api_returns)
    predicted = run_firewall(api, check_mode=True)
    assert predicted['changed'] and predicted['firewall'] == {} and not api.mutations
    assert predicted['diff']['before'] == {} and predicted['diff']['after']['targetTags'] == ['istio-gce']
    run_firewall(api)
    predicted = run_firewall(api, check_mode=True, allowed=[{'protocol': 'tcp', 'ports': ['3550', '15090']}])
    assert predicted['changed'] and predicted['changed_fields'] == ['allowed'] and len(api.mutations) == 1


def test_firewall_update_patches_only_the_differing_fields_and_shows_them_in_the_diff():
    api = FakeApi(firewall_as_api_returns)
    run_firewall(api)
    changed = run_firewall(api, source_ranges=['10.8.0.0/14'])
    assert changed['changed_fields'] == ['sourceRanges']
    assert api.mutations[-1][0] == 'PATCH'
    assert api.mutations[-1][2] == {'name': 'k8s-to-istio-gce', 'sourceRanges': ['10.8.0.0/14']}
    assert changed['diff']['before']['sourceRanges'] == ['10.4.0.0/14']
    assert changed['diff']['after']['sourceRanges'] == ['10.8.0.0/14']
    assert 'id' not in changed['diff']['before']  # output-only fields are not part of the diff


def test_firewall_absent():
    api = FakeApi(firewall_as_api_returns)
    assert not run_firewall(api, state='absent')['changed']
    run_firewall(api)
    assert run_firewall(api, state='absent', check_mode=True)['changed'] and len(api.resources) == 1
    assert run_firewall(api, state='absent')['changed'] and not api.resources


@pytest.mark.parametrize('overrides, message', [
    ({'name': 'K8s_to_VM'}, r"name='K8s_to_VM' is not a valid name"),
    ({'name': 'ends-with-'}, r'not ending with a hyphen'),
    ({'source_ranges': ['10.4.0.0/33']}, r"source_ranges item='10.4.0.0/33' is not a CIDR range"),
    ({'source_ranges': ['10.4.0.1/14']}, r'has host bits set'),
    ({'allowed': [{'protocol': 'tcp', 'ports': ['70000']}]}, r"contains '70000': give a port 1-65535"),
    ({'allowed': [{'protocol': 'icmp', 'ports': ['1']}]}, r'ports apply to tcp, udp and sctp only'),
    ({'source_ranges': []}, r'give source_ranges or source_tags'),
])
def test_firewall_bad_input_fails_before_any_call(overrides, message):
    api = FakeApi()
    with pytest.raises(GcpInputError, match=message):
        run_firewall(api, **overrides)
    assert not api.mutations


def instance_params(**overrides):
    params = dict(project='p', zone='us-west2-a', name='istio-gce', state='present', machine_type='n1-standard-2',
                  image='projects/debian-cloud/global/images/family/debian-12', disk_size_gb=10,
                  disk_type='pd-balanced', network='default', subnetwork=None, external_ip=True, tags=['istio-gce'],
                  labels={'meshbridge-role': 'mesh-vm'}, metadata={'enable-oslogin': 'TRUE'},
                  service_account_email='default', scopes_for_vm=['cloud-platform'], operation_timeout=600)
    params.update(overrides)
    return params


def instance_as_api_returns(url, body):
    body.update(status='RUNNING', labelFingerprint='lf1', id='42',
                machineType=body['machineType'].replace('https://compute.googleapis.com', 'https://www.googleapis.com'),
                serviceAccounts=[{'email': '1234-compute@developer.gserviceaccount.com',
                                  'scopes': body['serviceAccounts'][0]['scopes']}])
    body['tags']['fingerprint'] = 'tf1'
    body['metadata']['fingerprint'] = 'mf1'
    body['metadata']['items'].append({'key': 'ssh-keys', 'value': 'someone:ssh-ed25519 AAAA'})
    return body


def run_instance(api, check_mode=False, **overrides):
    params = instance_params(**overrides)
    return Instance(api, params, waiter(api)).run(params['state'], check_mode)


def test_instance_created_once_then_unchanged_with_the_default_service_account():
    api = FakeApi(instance_as_api_returns)
    assert run_instance(api)['changed']
    body = api.mutations[0][2]
    assert body['disks'][0]['initializeParams']['sourceImage'] == 'projects/debian-cloud/global/images/family/debian-12'
    assert body['serviceAccounts'] == [{'email': 'default', 'scopes': ['https://www.googleapis.com/auth/cloud-platform']}]
    again = run_instance(api)
    assert not again['changed'], again['changed_fields']


def test_instance_metadata_update_keeps_keys_it_does_not_manage():
    api = FakeApi(instance_as_api_returns)
    run_instance(api)
    result = run_instance(api, metadata={'enable-oslogin': 'FALSE'})
    assert result['changed_fields'] == ['metadata']
    method, url, body = api.mutations[-1]
    assert url.endswith('/instances/istio-gce/setMetadata') and body['fingerprint'] == 'mf1'
    assert {'key': 'ssh-keys', 'value': 'someone:ssh-ed25519 AAAA'} in body['items']
    assert {'key': 'enable-oslogin', 'value': 'FALSE'} in body['items']


def test_instance_labels_and_tags_use_their_fingerprints():
    api = FakeApi(instance_as_api_returns)
    run_instance(api)
    run_instance(api, labels={'meshbridge-role': 'mesh-vm', 'team': 'a'}, tags=['istio-gce', 'web'])
    calls = dict((url.rsplit('/', 1)[1], body) for method, url, body in api.mutations[1:])
    assert calls['setLabels'] == {'labels': {'meshbridge-role': 'mesh-vm', 'team': 'a'}, 'labelFingerprint': 'lf1'}
    assert calls['setTags'] == {'items': ['istio-gce', 'web'], 'fingerprint': 'tf1'}


def test_instance_machine_type_change_is_refused_with_the_reason():
    api = FakeApi(instance_as_api_returns)
    run_instance(api)
    with pytest.raises(GcpConflictError, match=r"machineType, which cannot change in place: machineType is 'n1-standard-2', "
                                               r"wanted 'e2-standard-4'"):
        run_instance(api, machine_type='e2-standard-4')
    assert len(api.mutations) == 1


def test_instance_bad_labels_rejected():
    with pytest.raises(GcpInputError, match=r"labels key 'Role' is not a valid label key"):
        run_instance(FakeApi(), labels={'Role': 'x'})


def cluster_params(**overrides):
    params = dict(project='p', location='us-west2-a', name='west', state='present', network='default',
                  subnetwork=None, node_pool_name='default-pool', node_count=5, machine_type='n1-standard-2',
                  disk_size_gb=100, disk_type='pd-balanced', image_type='COS_CONTAINERD',
                  node_oauth_scopes=['https://www.googleapis.com/auth/cloud-platform'],
                  release_channel='REGULAR', cloud_logging=True, cloud_monitoring=True, cluster_ipv4_cidr=None,
                  services_ipv4_cidr=None, resource_labels={}, operation_timeout=2400)
    params.update(overrides)
    return params


COMPUTE_ZONES = 'https://www.googleapis.com/compute/v1/projects/p/zones/'


def cluster_as_api_returns(url, body, zones=('us-west2-a',)):
    """A created cluster as GKE shows it: a managed instance group per zone for each node pool, and the deprecated
    currentNodeCount counting every node."""
    body.update(status='RUNNING', endpoint='127.0.10.1', clusterIpv4Cidr='10.4.0.0/14', servicesIpv4Cidr='10.8.0.0/20',
                currentNodeCount=sum(pool['initialNodeCount'] for pool in body['nodePools']) * len(zones),
                labelFingerprint='abc', locations=list(zones))
    for pool in body['nodePools']:
        pool['locations'] = list(zones)
        pool['instanceGroupUrls'] = ['%s%s/instanceGroupManagers/gke-%s-%s-%08x-grp' % (
            COMPUTE_ZONES, zone, body['name'], pool['name'], index) for index, zone in enumerate(zones)]
    return body


def run_cluster(api, check_mode=False, **overrides):
    params = cluster_params(**overrides)
    clock = FakeClock()
    cluster = Cluster(api, params, waiter(api), poller=Poller(clock=clock, sleep=clock.sleep))
    return cluster.run(params['state'], check_mode)


def test_cluster_created_vpc_native_on_a_release_channel_then_unchanged():
    api = FakeApi(cluster_as_api_returns)
    result = run_cluster(api)
    assert result['changed'] and result['cluster']['endpoint'] == '127.0.10.1'
    body = api.mutations[0][2]['cluster']
    assert body['ipAllocationPolicy']['useIpAliases'] is True
    assert body['releaseChannel'] == {'channel': 'REGULAR'}
    assert body['nodePools'][0]['config']['machineType'] == 'n1-standard-2'
    assert not run_cluster(api)['changed']


def test_cluster_node_count_and_channel_updates_are_separate_calls():
    api = FakeApi(cluster_as_api_returns)
    run_cluster(api)
    result = run_cluster(api, node_count=3, release_channel='STABLE')
    assert result['changed_fields'] == ['nodeCount', 'releaseChannel']
    assert ('PUT', 'https://container.googleapis.com/v1/projects/p/locations/us-west2-a/clusters/west',
            {'update': {'desiredReleaseChannel': {'channel': 'STABLE'}}}) in api.mutations
    assert api.mutations[-1][1].endswith('/nodePools/default-pool:setSize') and api.mutations[-1][2] == {'nodeCount': 3}


def test_cluster_in_error_is_replaced():
    api = FakeApi(cluster_as_api_returns)
    run_cluster(api)
    url = 'https://container.googleapis.com/v1/projects/p/locations/us-west2-a/clusters/west'
    api.resources[url]['status'] = 'ERROR'
    predicted = run_cluster(api, check_mode=True)
    assert predicted['changed'] and len(api.mutations) == 1
    result = run_cluster(api)
    assert result['changed'] and [m[0] for m in api.mutations] == ['POST', 'DELETE', 'POST']
    assert api.resources[url]['status'] == 'RUNNING'


def test_cluster_bad_cidr_rejected_before_any_call():
    api = FakeApi()
    with pytest.raises(GcpInputError, match=r"cluster_ipv4_cidr='10.4.0.0/99' is not a CIDR range"):
        run_cluster(api, cluster_ipv4_cidr='10.4.0.0/99')
    assert not api.mutations
