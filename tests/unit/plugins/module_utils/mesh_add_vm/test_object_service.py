"""ObjectService plans against what the server holds: what is drift, what is someone else's."""

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.mesh_add_vm.cluster_facts import ClusterFacts
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.mesh_add_vm.errors import MeshAddVmError
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.mesh_add_vm.object_service import ObjectService
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.workload_group import VmWorkload

from .fake_cluster import FakeKube, Clock, module_params


@pytest.fixture
def kube():
    return FakeKube(Clock())


def service(kube, tmp_path, **overrides):
    params = module_params(tmp_path, **overrides)
    workload = VmWorkload(params)
    return ObjectService(kube, ClusterFacts(kube, params, 'default'), workload)


def actions(plans):
    return [(plan.obj['kind'], plan.action) for plan in plans]


def test_server_defaults_are_not_drift_and_a_removed_port_is(kube, tmp_path):
    objects = service(kube, tmp_path, ports=[{'number': 3550, 'protocol': 'grpc', 'name': None},
                                             {'number': 8080, 'protocol': 'http', 'name': None}])
    plans = objects.plan(objects.desired())
    assert actions(plans) == [('ServiceAccount', 'create'), ('WorkloadGroup', 'create'), ('Service', 'create')]
    objects.apply(plans)  # the fake server adds clusterIP and type, as a real one does
    assert actions(objects.plan(objects.desired())) == [
        ('ServiceAccount', 'none'), ('WorkloadGroup', 'none'), ('Service', 'none')]
    one_port = service(kube, tmp_path)
    assert actions(one_port.plan(one_port.desired())) == [
        ('ServiceAccount', 'none'), ('WorkloadGroup', 'update'), ('Service', 'update')]


def test_check_mode_is_the_callers_plans_are_only_read(kube, tmp_path):
    objects = service(kube, tmp_path)
    plans = objects.plan(objects.desired())
    objects.diff(plans)
    assert kube.applied == [] and kube.deleted == []
    assert [d['after_header'] for d in objects.diffs] == [
        'ServiceAccount default/productcatalogservice (v1)',
        'WorkloadGroup default/productcatalogservice (networking.istio.io/v1)',
        'Service default/productcatalogservice (v1)']


def test_an_object_not_made_by_the_module_is_refused(kube, tmp_path):
    kube.put({'apiVersion': 'networking.istio.io/v1', 'kind': 'WorkloadGroup',
              'metadata': {'name': 'productcatalogservice', 'namespace': 'default'}, 'spec': {}})
    objects = service(kube, tmp_path)
    with pytest.raises(MeshAddVmError, match='exists and was not made by meshbridge.istio_vm'):
        objects.plan(objects.desired())
