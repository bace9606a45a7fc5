"""ClusterFacts reads what istioctl reads, where it reads it, and only reads."""

import json

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.mesh_add_vm.cluster_facts import ClusterFacts
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.mesh_add_vm.errors import MeshAddVmError

from .fake_cluster import FakeKube, ISTIO_KINDS, Clock, module_params


@pytest.fixture
def kube():
    return FakeKube(Clock())


def facts(kube, tmp_path, **overrides):
    return ClusterFacts(kube, module_params(tmp_path, **overrides), 'default', sleep=lambda seconds: None)


def test_istio_versions_prefer_v1(kube, tmp_path):
    assert facts(kube, tmp_path).served_istio_version('WorkloadGroup') == 'networking.istio.io/v1'
    kube.served = set(('networking.istio.io/v1beta1', kind) for kind in ISTIO_KINDS)
    assert facts(kube, tmp_path).served_istio_version('WorkloadGroup') == 'networking.istio.io/v1beta1'
    kube.served = set()
    with pytest.raises(MeshAddVmError, match='serves no WorkloadEntry .*run meshbridge.istio_vm.istio_install first'):
        facts(kube, tmp_path).require_istio_version('WorkloadEntry')


def test_options_win_over_the_cluster_and_nothing_is_read_for_them(kube, tmp_path):
    read = facts(kube, tmp_path, cluster_id='east', istiod_address='10.168.8.9')
    assert read.cluster_id() == 'east' and read.istiod_address() == '10.168.8.9'
    assert kube.store == {} and kube.applied == []


def test_the_revision_names_the_config_maps(kube, tmp_path):
    kube.put({'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'istio-canary', 'namespace': 'istio-system'},
              'data': {'mesh': 'trustDomain: example.org\n'}})
    kube.put({'apiVersion': 'v1', 'kind': 'ConfigMap',
              'metadata': {'name': 'istio-sidecar-injector-canary', 'namespace': 'istio-system'},
              'data': {'values': json.dumps({'global': {'multiCluster': {'clusterName': 'west-canary'}}})}})
    read = facts(kube, tmp_path, revision='canary')
    mesh = read.mesh_config()
    assert mesh == {'trustDomain': 'example.org'} and read.trust_domain(mesh) == 'example.org'
    assert read.cluster_id() == 'west-canary'
    assert read.trust_domain({}) == 'cluster.local'


def test_an_empty_gateway_service_is_no_gateway(kube, tmp_path):
    """Not a lookup of the Service named "" (which the client would turn into a list of all Services)."""
    with pytest.raises(MeshAddVmError, match='no address found for istiod: gateway_service is empty'):
        facts(kube, tmp_path, gateway_service='').istiod_address()
    lenient = facts(kube, tmp_path, gateway_service='', require_gateway=False)
    assert lenient.istiod_address() is None
    assert lenient.warnings == ['no address found for istiod (gateway_service is empty): the hosts file is empty, so '
                                'the VM must resolve istiod.istio-system.svc itself']
