"""mesh_add_vm's backend against an in-memory API (fake_cluster.py): plans, idempotence, check mode, token
reissue, refusals."""

import copy
import datetime
import json
import os
import stat
import time

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.bundle_dir import BundleDirError
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.mesh_add_vm.errors import MeshAddVmError
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.mesh_add_vm.runner import MeshAddVmRunner
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.workload_group import VmWorkload

from ..ansible_module import real_module
from ..fake_clock import FakeClock
from .fake_cluster import ISTIO_KINDS, Clock, FakeKube, module_params


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def kube(clock):
    fake = FakeKube(clock)
    fake.put({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'default'}})
    fake.put({'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'istio', 'namespace': 'istio-system'},
              'data': {'mesh': 'trustDomain: cluster.local\ndefaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\n'}})
    fake.put({'apiVersion': 'v1', 'kind': 'ConfigMap',
              'metadata': {'name': 'istio-sidecar-injector', 'namespace': 'istio-system'},
              'data': {'values': json.dumps({'global': {'multiCluster': {'clusterName': 'west'}}})}})
    fake.put({'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'istio-ca-root-cert', 'namespace': 'default'},
              'data': {'root-cert.pem': '-----BEGIN CERTIFICATE-----\nROOT\n-----END CERTIFICATE-----\n'}})
    fake.put({'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': 'istio-eastwestgateway', 'namespace': 'istio-system'},
              'spec': {'type': 'LoadBalancer'}, 'status': {'loadBalancer': {'ingress': [{'ip': '10.168.8.1'}]}}})
    return fake


def run(kube, clock, params, check_mode=False):
    runner = MeshAddVmRunner(kube, VmWorkload(params), params, module=real_module(), check_mode=check_mode, now=clock,
                             sleep=lambda seconds: None)
    result = runner.present() if params['state'] == 'present' else runner.absent()
    return result, runner.diffs


def test_first_run_creates_objects_and_bundle_then_nothing_changes(kube, clock, tmp_path):
    params = module_params(tmp_path)
    result, _diffs = run(kube, clock, params)
    assert result['changed']
    assert [(o['kind'], o['action']) for o in result['objects']] == [
        ('ServiceAccount', 'create'), ('WorkloadGroup', 'create'), ('Service', 'create')]
    assert kube.tokens_issued == 1
    bundle = tmp_path / 'bundle'
    assert stat.S_IMODE(os.stat(bundle).st_mode) == 0o700
    assert sorted(os.listdir(bundle)) == ['cluster.env', 'hosts', 'istio-token', 'mesh.yaml', 'root-cert.pem']
    assert all(stat.S_IMODE(os.stat(bundle / name).st_mode) == 0o600 for name in os.listdir(bundle))
    assert (bundle / 'hosts').read_text() == '10.168.8.1 istiod.istio-system.svc\n'
    assert "ISTIO_META_CLUSTER_ID='west'" in (bundle / 'cluster.env').read_text()
    assert "ISTIO_META_AUTO_REGISTER_GROUP='productcatalogservice'" in (bundle / 'cluster.env').read_text()
    assert result['spiffe_id'] == 'spiffe://cluster.local/ns/default/sa/productcatalogservice'
    assert result['token_expires_at'] == '2026-11-24T22:00:00+00:00'
    token = (bundle / 'istio-token').read_text()
    assert token.count('.') == 2 and token not in json.dumps([result, _diffs])

    clock.now += datetime.timedelta(minutes=30)
    kube.applied = []
    again, diffs = run(kube, clock, params)
    assert not again['changed'] and diffs == [] and kube.applied == []
    assert kube.tokens_issued == 1
    assert all(o['action'] == 'none' for o in again['objects'])


def test_check_mode_predicts_and_changes_nothing(kube, clock, tmp_path):
    params = module_params(tmp_path)
    result, diffs = run(kube, clock, params, check_mode=True)
    assert result['changed'] and result['token_reissued']
    assert kube.applied == [] and kube.tokens_issued == 0
    assert not (tmp_path / 'bundle').exists()
    assert {d['after_header'].rsplit('/', 1)[-1] for d in diffs} >= {'cluster.env', 'istio-token', 'productcatalogservice (v1)'}
    run(kube, clock, params)
    result, diffs = run(kube, clock, params, check_mode=True)
    assert not result['changed'] and diffs == []


def test_token_is_reissued_in_the_renew_window_and_only_the_token_changes(kube, clock, tmp_path):
    params = module_params(tmp_path)
    run(kube, clock, params)
    old_token = (tmp_path / 'bundle' / 'istio-token').read_text()
    clock.now += datetime.timedelta(minutes=55)
    result, diffs = run(kube, clock, params)
    assert result['changed'] and result['changed_files'] == ['istio-token']
    assert 'renew window' in result['token_reissue_reason']
    assert all(o['action'] == 'none' for o in result['objects'])
    new_token = (tmp_path / 'bundle' / 'istio-token').read_text()
    assert new_token != old_token
    assert old_token not in json.dumps(diffs) and new_token not in json.dumps(diffs + [result])


def test_expired_token_is_reissued(kube, clock, tmp_path):
    params = module_params(tmp_path)
    run(kube, clock, params)
    clock.now += datetime.timedelta(hours=2)
    result, _diffs = run(kube, clock, params)
    assert 'expired' in result['token_reissue_reason'] and kube.tokens_issued == 2


def test_a_token_of_a_cluster_made_again_is_reissued(kube, clock, tmp_path):
    run(kube, clock, module_params(tmp_path))
    old_token = (tmp_path / 'bundle' / 'istio-token').read_text()
    assert kube.reviews == 0  # a new token needs no review
    again = run(kube, clock, module_params(tmp_path))[0]
    assert not again['changed'] and kube.reviews == 1
    # The cluster is deleted and made again under the same name: its signing key is new.
    kube.signed.clear()
    checked = run(kube, clock, module_params(tmp_path), check_mode=True)[0]
    assert checked['changed'] and kube.tokens_issued == 1
    assert checked['token_reissue_reason'] == ('the cluster does not accept the existing token '
                                               '([invalid bearer token, Signature verification failed])')
    result = run(kube, clock, module_params(tmp_path))[0]
    assert result['changed_files'] == ['istio-token'] and kube.tokens_issued == 2
    assert (tmp_path / 'bundle' / 'istio-token').read_text() != old_token


def test_static_entry_when_auto_registration_is_off(kube, clock, tmp_path):
    result, _diffs = run(kube, clock, module_params(tmp_path, auto_register=False))
    assert ('WorkloadEntry', 'create') in [(o['kind'], o['action']) for o in result['objects']]
    entry = kube.get('networking.istio.io/v1', 'WorkloadEntry', 'productcatalogservice-10-168-0-20', 'default')
    assert entry['spec']['address'] == '10.168.0.20'
    assert 'ISTIO_META_AUTO_REGISTER_GROUP' not in (tmp_path / 'bundle' / 'cluster.env').read_text()


def test_v1beta1_when_v1_is_not_served(clock, kube, tmp_path):
    kube.served = set(('networking.istio.io/v1beta1', kind) for kind in ISTIO_KINDS)
    result, _diffs = run(kube, clock, module_params(tmp_path))
    assert result['objects'][1]['api_version'] == 'networking.istio.io/v1beta1'


def test_legacy_mode_needs_no_workload_group(kube, clock, tmp_path):
    kube.served = set([('networking.istio.io/v1beta1', 'ServiceEntry')])
    result, _diffs = run(kube, clock, module_params(tmp_path, mode='legacy'))
    assert [(o['kind'], o['name']) for o in result['objects']] == [
        ('ServiceAccount', 'productcatalogservice'), ('Service', 'productcatalogservice'),
        ('ServiceEntry', 'mesh-expansion-productcatalogservice')]
    assert 'selector' not in kube.get('v1', 'Service', 'productcatalogservice', 'default')['spec']
    assert result['workload_group'] is None and result['service_entry'] == 'mesh-expansion-productcatalogservice'


def test_changed_labels_update_the_objects(kube, clock, tmp_path):
    run(kube, clock, module_params(tmp_path))
    result, diffs = run(kube, clock, module_params(tmp_path, labels={'app': 'productcatalogservice', 'version': 'v2'}))
    actions = dict((o['kind'], o['action']) for o in result['objects'])
    assert actions == {'ServiceAccount': 'none', 'WorkloadGroup': 'update', 'Service': 'update'}
    assert kube.get('v1', 'Service', 'productcatalogservice', 'default')['spec']['selector']['version'] == 'v2'
    assert any('version: v2' in d['after'] for d in diffs)


def test_removed_port_is_an_update(kube, clock, tmp_path):
    two_ports = [{'number': 3550, 'protocol': 'grpc', 'name': None}, {'number': 8080, 'protocol': 'http', 'name': None}]
    run(kube, clock, module_params(tmp_path, ports=two_ports))
    result, _diffs = run(kube, clock, module_params(tmp_path))
    assert dict((o['kind'], o['action']) for o in result['objects'])['WorkloadGroup'] == 'update'


@pytest.mark.parametrize('breakage, overrides, message', [
    (lambda kube: kube.served.clear(), {}, 'run meshbridge.istio_vm.istio_install first'),
    (lambda kube: kube.store.pop(('Namespace', None, 'default')), {}, "namespace 'default' does not exist"),
    (lambda kube: kube.store.pop(('Service', 'istio-system', 'istio-eastwestgateway')), {},
     'Service istio-system/istio-eastwestgateway does not exist.*istiod_address'),
    (lambda kube: kube.store[('Service', 'istio-system', 'istio-eastwestgateway')].pop('status'), {},
     'no load balancer IP.*istiod_address'),
    (lambda kube: kube.store.pop(('ConfigMap', 'istio-system', 'istio')), {}, 'ConfigMap istio-system/istio .*not found'),
    (lambda kube: None, {'revision': 'canary'}, 'istio-system/istio-canary'),
    (lambda kube: kube.store.pop(('ConfigMap', 'istio-system', 'istio-sidecar-injector')), {}, 'set cluster_id'),
    (lambda kube: kube.store.pop(('ConfigMap', 'default', 'istio-ca-root-cert')), {}, 'istio-ca-root-cert'),
    (lambda kube: kube.put({'apiVersion': 'v1', 'kind': 'Service',
                            'metadata': {'name': 'productcatalogservice', 'namespace': 'default'}, 'spec': {'ports': []}}),
     {}, 'not made by meshbridge.istio_vm'),
])
def test_refusals_come_before_any_change(kube, clock, tmp_path, breakage, overrides, message):
    breakage(kube)
    with pytest.raises(MeshAddVmError, match=message):
        run(kube, clock, module_params(tmp_path, **overrides))
    assert kube.applied == [] and kube.tokens_issued == 0
    assert not (tmp_path / 'bundle').exists()


def test_fields_the_server_drops_are_reported(kube, clock, tmp_path, monkeypatch):
    store = kube.put

    def prune_probe(obj):
        obj = copy.deepcopy(obj)
        if obj['kind'] == 'WorkloadGroup':
            obj['spec'].get('probe', {}).pop('grpc', None)
        store(obj)
    monkeypatch.setattr(kube, 'put', prune_probe)
    probe = {'grpc': {'port': 3550}, 'period_seconds': None, 'initial_delay_seconds': None, 'timeout_seconds': None,
             'success_threshold': None, 'failure_threshold': None, 'http_get': None, 'tcp_socket': None, 'exec': None}
    params = module_params(tmp_path, probe=probe)
    runner = MeshAddVmRunner(kube, VmWorkload(params), params, module=real_module(), now=clock, sleep=lambda seconds: None)
    runner.present()
    assert len(runner.warnings) == 1 and 'did not keep all fields of WorkloadGroup' in runner.warnings[0]


def test_istiod_address_overrides_the_gateway(kube, clock, tmp_path):
    kube.store.pop(('Service', 'istio-system', 'istio-eastwestgateway'))
    result, _diffs = run(kube, clock, module_params(tmp_path, istiod_address='10.168.8.7', revision=''))
    assert (tmp_path / 'bundle' / 'hosts').read_text() == '10.168.8.7 istiod.istio-system.svc\n'
    assert result['istiod_address'] == '10.168.8.7'


def test_absent_removes_what_present_made(kube, clock, tmp_path):
    run(kube, clock, module_params(tmp_path, auto_register=False))
    kube.put({'apiVersion': 'v1', 'kind': 'ServiceAccount', 'metadata': {'name': 'unrelated', 'namespace': 'default'}})
    absent = module_params(tmp_path, state='absent', address=None, ports=None)
    result, _diffs = run(kube, clock, absent, check_mode=True)
    assert result['changed'] and kube.deleted == []
    result, _diffs = run(kube, clock, absent)
    assert sorted(o['kind'] for o in result['objects']) == ['Service', 'ServiceAccount', 'WorkloadEntry', 'WorkloadGroup']
    assert not (tmp_path / 'bundle').exists()
    assert kube.get('v1', 'ServiceAccount', 'unrelated', 'default') is not None
    result, _diffs = run(kube, clock, absent)
    assert not result['changed']


def test_loose_permissions_are_tightened(kube, clock, tmp_path):
    params = module_params(tmp_path)
    run(kube, clock, params)
    bundle = tmp_path / 'bundle'
    os.chmod(bundle, 0o755)
    os.chmod(bundle / 'istio-token', 0o644)
    result, _diffs = run(kube, clock, params)
    assert result['changed'] and result['changed_files'] == ['istio-token']
    assert stat.S_IMODE(os.stat(bundle).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(bundle / 'istio-token').st_mode) == 0o600
    os.chmod(bundle, 0o750)
    result, _diffs = run(kube, clock, params)
    assert result['changed'] and result['changed_files'] == ['.']
    assert stat.S_IMODE(os.stat(bundle).st_mode) == 0o700
    assert not run(kube, clock, params)[0]['changed']


def test_absent_keeps_the_static_entry_of_a_group_whose_name_starts_with_this_ones(kube, clock, tmp_path):
    longer = module_params(tmp_path, name='catalog-v2', labels={'app': 'catalog-v2'}, address='10.168.0.21',
                           bundle_dir=str(tmp_path / 'v2'), auto_register=False)
    run(kube, clock, longer)
    shorter = module_params(tmp_path, name='catalog', labels={'app': 'catalog'}, auto_register=False)
    run(kube, clock, shorter)
    result, _diffs = run(kube, clock, dict(shorter, state='absent', address=None, ports=None))
    assert ('WorkloadEntry', 'catalog-10-168-0-20') in [(o['kind'], o['name']) for o in result['objects']]
    assert kube.get('networking.istio.io/v1', 'WorkloadEntry', 'catalog-v2-10-168-0-21', 'default') is not None
    assert not run(kube, clock, longer)[0]['changed']


def test_switching_modes_removes_what_the_old_mode_made(kube, clock, tmp_path):
    run(kube, clock, module_params(tmp_path, auto_register=False))
    result, _diffs = run(kube, clock, module_params(tmp_path))
    assert ('WorkloadEntry', 'delete') in [(o['kind'], o['action']) for o in result['objects']]
    assert kube.get('networking.istio.io/v1', 'WorkloadEntry', 'productcatalogservice-10-168-0-20', 'default') is None

    result, _diffs = run(kube, clock, module_params(tmp_path, mode='legacy'))
    actions = [(o['kind'], o['action']) for o in result['objects']]
    assert ('WorkloadGroup', 'delete') in actions and ('ServiceEntry', 'create') in actions
    assert 'selector' not in kube.get('v1', 'Service', 'productcatalogservice', 'default')['spec']
    result, _diffs = run(kube, clock, module_params(tmp_path))
    assert ('ServiceEntry', 'delete') in [(o['kind'], o['action']) for o in result['objects']]
    assert not run(kube, clock, module_params(tmp_path))[0]['changed']


def test_auto_registered_entries_are_istiods_and_stay(kube, clock, tmp_path):
    run(kube, clock, module_params(tmp_path))
    kube.put({'apiVersion': 'networking.istio.io/v1', 'kind': 'WorkloadEntry',
              'metadata': {'name': 'productcatalogservice-10.168.0.20', 'namespace': 'default',
                           'annotations': {'istio.io/autoRegistrationGroup': 'productcatalogservice'}},
              'spec': {'address': '10.168.0.20'}})
    assert not run(kube, clock, module_params(tmp_path))[0]['changed']
    run(kube, clock, module_params(tmp_path, state='absent'))
    assert kube.get('networking.istio.io/v1', 'WorkloadEntry', 'productcatalogservice-10.168.0.20', 'default')


BOUTIQUE_PORTS = [{'number': 3550, 'protocol': 'grpc', 'name': None}, {'number': 7000, 'protocol': 'grpc', 'name': None}]
CATALOG = {'name': 'productcatalogservice', 'ports': [3550]}
CURRENCY = {'name': 'currencyservice', 'ports': [7000]}


def boutique_params(tmp_path, services, **overrides):
    return module_params(tmp_path, name='boutique-vm', labels={'app': 'boutique-vm'}, ports=BOUTIQUE_PORTS,
                         services=services, **overrides)


def service_names(kube):
    return sorted(name for (kind, _namespace, name) in kube.store if kind == 'Service' and name != 'istio-eastwestgateway')


def test_two_services_on_one_group_then_nothing_changes(kube, clock, tmp_path):
    params = boutique_params(tmp_path, [CATALOG, CURRENCY])
    result, _diffs = run(kube, clock, params)
    assert [(o['kind'], o['name'], o['action']) for o in result['objects'] if o['kind'] == 'Service'] == [
        ('Service', 'productcatalogservice', 'create'), ('Service', 'currencyservice', 'create')]
    assert result['services'] == ['productcatalogservice', 'currencyservice'] and result['service'] == 'productcatalogservice'
    for name, port in (('productcatalogservice', 3550), ('currencyservice', 7000)):
        service = kube.get('v1', 'Service', name, 'default')
        assert service['spec']['selector'] == {'app': 'boutique-vm'}
        assert [p['port'] for p in service['spec']['ports']] == [port]
        assert service['metadata']['annotations'] == {'meshbridge.io/workload-group': 'boutique-vm'}
    assert service_names(kube) == ['currencyservice', 'productcatalogservice']
    kube.applied = []
    again, diffs = run(kube, clock, params)
    assert not again['changed'] and diffs == [] and kube.applied == []


def test_dropping_a_service_deletes_exactly_it_and_spares_other_groups(kube, clock, tmp_path):
    run(kube, clock, boutique_params(tmp_path, [CATALOG, CURRENCY]))
    other = module_params(tmp_path, name='cartservice', labels={'app': 'cartservice'}, bundle_dir=str(tmp_path / 'cart'),
                          ports=[{'number': 7070, 'protocol': 'grpc', 'name': None}],
                          services=[{'name': 'cartservice-grpc', 'ports': [7070]}])
    run(kube, clock, other)
    run(kube, clock, module_params(tmp_path, name='redis', labels={'app': 'redis'}, bundle_dir=str(tmp_path / 'redis')))

    dropped = boutique_params(tmp_path, [CATALOG])
    result, diffs = run(kube, clock, dropped, check_mode=True)
    assert ('Service', 'currencyservice', 'delete') in [(o['kind'], o['name'], o['action']) for o in result['objects']]
    assert any(d['before_header'].startswith('Service default/currencyservice') and d['after'] == '' for d in diffs)
    assert kube.get('v1', 'Service', 'currencyservice', 'default') is not None

    kube.deleted = []
    result, _diffs = run(kube, clock, dropped)
    assert result['changed'] and kube.deleted == [('Service', 'currencyservice')]
    assert service_names(kube) == ['cartservice-grpc', 'productcatalogservice', 'redis']
    assert not run(kube, clock, dropped)[0]['changed']


def test_a_service_of_another_group_or_tool_is_not_taken_over(kube, clock, tmp_path):
    run(kube, clock, module_params(tmp_path, name='currencyservice', labels={'app': 'currencyservice'},
                                   ports=[{'number': 7000, 'protocol': 'grpc', 'name': None}], bundle_dir=str(tmp_path / 'c')))
    kube.applied = []
    with pytest.raises(MeshAddVmError, match=r"Service default/currencyservice \(v1\) belongs to workload group 'currencyservice'"):
        run(kube, clock, boutique_params(tmp_path, [CATALOG, CURRENCY]))
    assert kube.applied == [] and kube.get('v1', 'Service', 'currencyservice', 'default')['metadata'].get('annotations') is None
    kube.put({'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': 'productcatalogservice', 'namespace': 'default'},
              'spec': {'ports': [{'port': 3550}]}})
    kube.applied = []
    with pytest.raises(MeshAddVmError, match=r'Service default/productcatalogservice \(v1\) exists and was not made by meshbridge.istio_vm'):
        run(kube, clock, boutique_params(tmp_path, [CATALOG]))
    assert kube.applied == [] and not (tmp_path / 'bundle').exists()


def test_renaming_the_groups_service_deletes_the_one_named_after_it(kube, clock, tmp_path):
    run(kube, clock, boutique_params(tmp_path, None))
    assert service_names(kube) == ['boutique-vm']
    result, _diffs = run(kube, clock, boutique_params(tmp_path, [CATALOG, CURRENCY]))
    assert ('Service', 'boutique-vm', 'delete') in [(o['kind'], o['name'], o['action']) for o in result['objects']]
    assert service_names(kube) == ['currencyservice', 'productcatalogservice']


def test_absent_removes_all_the_groups_services(kube, clock, tmp_path):
    run(kube, clock, boutique_params(tmp_path, [CATALOG, CURRENCY]))
    run(kube, clock, module_params(tmp_path, name='redis', labels={'app': 'redis'}, bundle_dir=str(tmp_path / 'redis')))
    result, _diffs = run(kube, clock, module_params(tmp_path, name='boutique-vm', state='absent', ports=None, address=None))
    assert sorted(o['name'] for o in result['objects'] if o['kind'] == 'Service') == ['currencyservice', 'productcatalogservice']
    assert service_names(kube) == ['redis']


def test_the_root_certificate_wait_backs_off_and_names_what_is_missing(kube, clock, tmp_path, monkeypatch):
    kube.store.pop(('ConfigMap', 'default', 'istio-ca-root-cert'))
    monotonic = FakeClock(start=1000.0)
    monkeypatch.setattr(time, 'monotonic', monotonic)
    params = module_params(tmp_path, wait_timeout=10)
    runner = MeshAddVmRunner(kube, VmWorkload(params), params, module=real_module(), now=clock, sleep=monotonic.sleep)
    with pytest.raises(MeshAddVmError, match='ConfigMap default/istio-ca-root-cert with key root-cert.pem did not '
                                             'appear within 10 s'):
        runner.present()
    assert monotonic.sleeps[:4] == pytest.approx([0.5, 0.75, 1.125, 1.6875])
    assert sum(monotonic.sleeps) == pytest.approx(10) and max(monotonic.sleeps) <= 5
    assert kube.applied == []


def test_a_bundle_dir_the_os_refuses_is_named_before_any_change(kube, clock, tmp_path):
    (tmp_path / 'file').write_text('')
    params = module_params(tmp_path, bundle_dir=str(tmp_path / 'file' / 'bundle'))
    with pytest.raises(BundleDirError, match=r'bundle_dir %s: cannot read .*Not a directory.*choose another bundle_dir'
                                             % (tmp_path / 'file' / 'bundle')):
        run(kube, clock, params)
    assert kube.applied == [] and kube.tokens_issued == 0


def test_absent_keeps_a_service_account_another_group_still_uses(kube, clock, tmp_path):
    shared = dict(service_account='catalog-sa')
    run(kube, clock, module_params(tmp_path / 'a', name='catalog-a', **shared))
    run(kube, clock, module_params(tmp_path / 'b', name='catalog-b', labels={'app': 'catalog-b'}, **shared))

    result, _diffs = run(kube, clock, module_params(tmp_path / 'a', name='catalog-a', state='absent', ports=None,
                                                    **shared))
    assert sorted(o['kind'] for o in result['objects']) == ['Service', 'WorkloadGroup']
    assert result['kept_objects'] == [{
        'kind': 'ServiceAccount', 'api_version': 'v1', 'name': 'catalog-sa', 'namespace': 'default',
        'reason': 'still the service account of WorkloadGroup catalog-b'}]
    assert kube.get('v1', 'ServiceAccount', 'catalog-sa', 'default') is not None
    assert kube.get('networking.istio.io/v1', 'WorkloadGroup', 'catalog-a', 'default') is None

    result, _diffs = run(kube, clock, module_params(tmp_path / 'b', name='catalog-b', state='absent', ports=None,
                                                    **shared))
    assert 'ServiceAccount' in [o['kind'] for o in result['objects']] and result['kept_objects'] == []
    assert kube.get('v1', 'ServiceAccount', 'catalog-sa', 'default') is None


def test_absent_keeps_a_service_account_a_legacy_group_still_uses(kube, clock, tmp_path):
    run(kube, clock, module_params(tmp_path / 'a', name='catalog-a', service_account='catalog-sa'))
    run(kube, clock, module_params(tmp_path / 'l', name='catalog-legacy', labels={'app': 'catalog-legacy'},
                                   service_account='catalog-sa', mode='legacy'))
    result, _diffs = run(kube, clock, module_params(tmp_path / 'a', name='catalog-a', state='absent', ports=None,
                                                    service_account='catalog-sa'))
    assert [o['reason'] for o in result['kept_objects']] == ['still the service account of Service catalog-legacy']
    assert kube.get('v1', 'ServiceAccount', 'catalog-sa', 'default') is not None


def test_without_a_gateway_require_gateway_false_gives_an_empty_hosts_file_and_a_warning(kube, clock, tmp_path):
    kube.store.pop(('Service', 'istio-system', 'istio-eastwestgateway'))
    params = module_params(tmp_path, require_gateway=False)
    runner = MeshAddVmRunner(kube, VmWorkload(params), params, module=real_module(), now=clock, sleep=lambda seconds: None)
    result = runner.present()
    assert (tmp_path / 'bundle' / 'hosts').read_text() == ''
    assert result['istiod_address'] is None
    assert runner.warnings == ['no address found for istiod (Service istio-system/istio-eastwestgateway does not '
                               'exist): the hosts file is empty, so the VM must resolve istiod.istio-system.svc '
                               'itself']
    assert not run(kube, clock, params)[0]['changed']


def test_the_gateway_address_is_read_as_istioctl_reads_it(kube, clock, tmp_path):
    """The first ingress's IP when there is an ingress (a host name alone gives none), else the first external IP."""
    gateway = kube.store[('Service', 'istio-system', 'istio-eastwestgateway')]
    gateway['spec']['externalIPs'] = ['10.168.9.9']
    gateway['status'] = {}
    run(kube, clock, module_params(tmp_path))
    assert (tmp_path / 'bundle' / 'hosts').read_text() == '10.168.9.9 istiod.istio-system.svc\n'
    gateway['status'] = {'loadBalancer': {'ingress': [{'hostname': 'gateway.example.com'}]}}
    with pytest.raises(MeshAddVmError, match='no address found for istiod: Service istio-system/istio-eastwestgateway '
                                             'has no load balancer IP or external IP.*require_gateway=false'):
        run(kube, clock, module_params(tmp_path))
    assert run(kube, clock, module_params(tmp_path, require_gateway=False))[0]['changed_files'] == ['hosts']
    assert (tmp_path / 'bundle' / 'hosts').read_text() == ''


def test_no_ports_makes_no_service_and_captures_all_inbound_traffic(kube, clock, tmp_path):
    params = module_params(tmp_path, ports=[])
    result, _diffs = run(kube, clock, params)
    assert [(o['kind'], o['action']) for o in result['objects']] == [
        ('ServiceAccount', 'create'), ('WorkloadGroup', 'create')]
    assert result['service'] is None and result['services'] == []
    group = kube.get('networking.istio.io/v1', 'WorkloadGroup', 'productcatalogservice', 'default')
    assert 'ports' not in group['spec']['template']
    env = (tmp_path / 'bundle' / 'cluster.env').read_text()
    assert "ISTIO_INBOUND_PORTS='*'\n" in env and 'ISTIO_META_POD_PORTS' not in env
    assert not run(kube, clock, params)[0]['changed']


def test_dropping_all_ports_deletes_the_groups_service(kube, clock, tmp_path):
    run(kube, clock, module_params(tmp_path))
    result, _diffs = run(kube, clock, module_params(tmp_path, ports=[]))
    actions = [(o['kind'], o['name'], o['action']) for o in result['objects']]
    assert ('Service', 'productcatalogservice', 'delete') in actions
    assert service_names(kube) == []


def test_the_groups_proxy_config_annotation_reaches_the_bundle(kube, clock, tmp_path):
    kube.store[('ConfigMap', 'istio-system', 'istio')]['data']['mesh'] = (
        'defaultConfig:\n  proxyMetadata:\n    FROM_MESH: mesh\n    OVERRIDDEN: mesh\n')
    annotations = {'proxy.istio.io/config': 'concurrency: 2\nproxyMetadata:\n  OVERRIDDEN: group\n'}
    params = module_params(tmp_path, annotations=annotations)
    run(kube, clock, params)
    group = kube.get('networking.istio.io/v1', 'WorkloadGroup', 'productcatalogservice', 'default')
    assert group['spec']['metadata']['annotations'] == annotations
    env = (tmp_path / 'bundle' / 'cluster.env').read_text()
    assert "FROM_MESH='mesh'\n" in env and "OVERRIDDEN='group'\n" in env
    assert 'concurrency: 2\n' in (tmp_path / 'bundle' / 'mesh.yaml').read_text()
    result, _diffs = run(kube, clock, module_params(tmp_path))
    assert dict((o['kind'], o['action']) for o in result['objects'])['WorkloadGroup'] == 'update'
    assert "OVERRIDDEN='mesh'\n" in (tmp_path / 'bundle' / 'cluster.env').read_text()
