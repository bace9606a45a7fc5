"""The Kubernetes objects for one VM workload, and the parameter checks that come before any of them."""

import re

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.workload_group import VmWorkload, WorkloadSpecError, service_group

MANAGED = {'app.kubernetes.io/managed-by': 'meshbridge.istio_vm'}


def params(**overrides):
    base = {'name': 'productcatalogservice', 'namespace': 'default', 'service_account': None, 'labels': None,
            'ports': [{'number': 3550, 'protocol': 'grpc', 'name': None}], 'network': '', 'address': None,
            'auto_register': True, 'mode': 'workload_group', 'probe': None, 'state': 'present'}
    base.update(overrides)
    return base


def test_defaults_follow_the_group_name():
    workload = VmWorkload(params())
    assert workload.service_account == 'productcatalogservice'
    assert workload.labels == {'app': 'productcatalogservice'}
    assert workload.spiffe_path == 'ns/default/sa/productcatalogservice'


def test_workload_group_object():
    probe = {'grpc': {'port': 3550, 'service': None}, 'period_seconds': 5, 'initial_delay_seconds': None,
             'timeout_seconds': None, 'success_threshold': None, 'failure_threshold': None,
             'http_get': None, 'tcp_socket': None, 'exec': None}
    workload = VmWorkload(params(labels={'app': 'productcatalogservice', 'version': 'v1'}, network='vpc', probe=probe,
                                 service_account='catalog'))
    assert workload.workload_group_object('networking.istio.io/v1') == {
        'apiVersion': 'networking.istio.io/v1', 'kind': 'WorkloadGroup',
        'metadata': {'name': 'productcatalogservice', 'namespace': 'default', 'labels': MANAGED},
        'spec': {
            'metadata': {'labels': {'app': 'productcatalogservice', 'version': 'v1'}},
            'template': {'serviceAccount': 'catalog', 'network': 'vpc', 'ports': {'grpc-3550': 3550}},
            'probe': {'periodSeconds': 5, 'grpc': {'port': 3550}},
        },
    }


def test_service_selects_the_group_labels():
    workload = VmWorkload(params(labels={'app': 'pcs', 'version': 'v1'},
                                 ports=[{'number': 3550, 'protocol': 'grpc', 'name': None},
                                        {'number': 8080, 'protocol': 'http', 'name': 'http-metrics'}]))
    [service] = workload.service_objects()
    assert service['spec'] == {
        'selector': {'app': 'pcs', 'version': 'v1'},
        'ports': [{'name': 'grpc-3550', 'port': 3550, 'targetPort': 3550, 'protocol': 'TCP'},
                  {'name': 'http-metrics', 'port': 8080, 'targetPort': 8080, 'protocol': 'TCP'}]}
    assert service['metadata']['labels'] == dict(MANAGED, app='pcs', version='v1')


TWO_PORTS = [{'number': 3550, 'protocol': 'grpc', 'name': None}, {'number': 7000, 'protocol': 'grpc', 'name': None}]


def test_services_option_makes_one_service_per_entry_naming_the_group():
    workload = VmWorkload(params(name='boutique-vm', labels={'app': 'boutique-vm'}, ports=TWO_PORTS, services=[
        {'name': 'productcatalogservice', 'ports': [3550]}, {'name': 'currencyservice', 'ports': [7000]}]))
    catalog, currency = workload.service_objects()
    assert catalog == {
        'apiVersion': 'v1', 'kind': 'Service',
        'metadata': {'name': 'productcatalogservice', 'namespace': 'default', 'labels': dict(MANAGED, app='boutique-vm'),
                     'annotations': {'meshbridge.io/workload-group': 'boutique-vm'}},
        'spec': {'selector': {'app': 'boutique-vm'},
                 'ports': [{'name': 'grpc-3550', 'port': 3550, 'targetPort': 3550, 'protocol': 'TCP'}]}}
    assert currency['metadata']['name'] == 'currencyservice'
    assert currency['spec']['ports'] == [{'name': 'grpc-7000', 'port': 7000, 'targetPort': 7000, 'protocol': 'TCP'}]
    assert [service_group(service) for service in (catalog, currency)] == ['boutique-vm', 'boutique-vm']


def test_without_services_one_service_named_after_the_group_has_all_ports():
    workload = VmWorkload(params(ports=TWO_PORTS))
    [service] = workload.service_objects()
    assert service['metadata']['name'] == 'productcatalogservice' and 'annotations' not in service['metadata']
    assert [port['port'] for port in service['spec']['ports']] == [3550, 7000]
    assert service_group(service) == 'productcatalogservice'  # a Service named after its group needs no annotation


def test_legacy_mode_takes_its_one_service_from_services():
    workload = VmWorkload(params(mode='legacy', address='10.168.0.20', ports=TWO_PORTS,
                                 services=[{'name': 'currencyservice', 'ports': [7000]}]))
    service = workload.legacy_service_object()
    assert service['metadata']['name'] == 'currencyservice'
    assert service['metadata']['annotations'] == {'kubernetes.io/service-account.name': 'productcatalogservice',
                                                  'meshbridge.io/workload-group': 'productcatalogservice'}
    entry = workload.service_entry_object('networking.istio.io/v1')
    assert entry['spec']['hosts'] == ['currencyservice.default.svc.cluster.local']
    assert entry['spec']['ports'] == [{'number': 7000, 'protocol': 'GRPC', 'name': 'grpc-7000'}]


@pytest.mark.parametrize('services, extra, message', [
    ([{'name': 'catalog', 'ports': [3551]}], {}, "services: Service 'catalog' lists port 3551, which is not in ports"),
    ([{'name': 'catalog', 'ports': []}], {}, "services: Service 'catalog' lists no ports"),
    ([{'name': 'catalog', 'ports': [3550, 3550]}], {}, 'lists a port twice'),
    ([{'name': 'Catalog', 'ports': [3550]}], {}, 'services: name .* starting with a letter'),
    ([{'name': 'catalog', 'ports': [3550]}, {'name': 'catalog', 'ports': [7000]}], {}, 'names must be unique'),
    ([], {}, 'services must list at least one Service'),
    ([{'name': 'catalog', 'ports': [3550]}, {'name': 'currency', 'ports': [7000]}], {'mode': 'legacy', 'address': '10.168.0.20'},
     'services lists 2 Services, but mode legacy makes one'),
])
def test_bad_services_name_the_parameter(services, extra, message):
    with pytest.raises(WorkloadSpecError, match=message):
        VmWorkload(params(ports=TWO_PORTS, services=services, **extra))


def test_static_workload_entry():
    workload = VmWorkload(params(auto_register=False, address='10.168.0.20'))
    entry = workload.workload_entry_object('networking.istio.io/v1')
    assert entry['metadata']['name'] == 'productcatalogservice-10-168-0-20'
    assert entry['spec'] == {'address': '10.168.0.20', 'labels': {'app': 'productcatalogservice'},
                             'serviceAccount': 'productcatalogservice', 'ports': {'grpc-3550': 3550}}


def test_legacy_objects_match_add_to_mesh():
    workload = VmWorkload(params(mode='legacy', address='10.168.0.20'))
    service = workload.legacy_service_object()
    assert 'selector' not in service['spec']
    assert service['spec']['ports'] == [{'name': 'grpc-3550', 'port': 3550, 'targetPort': 3550, 'protocol': 'TCP'}]
    assert service['metadata']['annotations'] == {'kubernetes.io/service-account.name': 'productcatalogservice'}
    entry = workload.service_entry_object('networking.istio.io/v1beta1')
    assert entry['metadata']['name'] == 'mesh-expansion-productcatalogservice'
    assert entry['spec'] == {
        'hosts': ['productcatalogservice.default.svc.cluster.local'],
        'ports': [{'number': 3550, 'protocol': 'GRPC', 'name': 'grpc-3550'}],
        'endpoints': [{'address': '10.168.0.20'}],
        'resolution': 'STATIC',
        'location': 'MESH_INTERNAL',
    }


@pytest.mark.parametrize('probe, expected', [
    ({'http_get': {'path': '/healthz', 'port': 8080, 'host': None, 'scheme': 'HTTP',
                   'http_headers': [{'name': 'X-Probe', 'value': 'mesh'}]}},
     {'httpGet': {'path': '/healthz', 'port': 8080, 'scheme': 'HTTP', 'httpHeaders': [{'name': 'X-Probe', 'value': 'mesh'}]}}),
    ({'tcp_socket': {'host': None, 'port': 3550}}, {'tcpSocket': {'port': 3550}}),
    ({'exec': {'command': ['/bin/check', '--ready']}, 'failure_threshold': 3},
     {'exec': {'command': ['/bin/check', '--ready']}, 'failureThreshold': 3}),
])
def test_probe_kinds(probe, expected):
    assert VmWorkload(params(probe=probe)).probe == expected


@pytest.mark.parametrize('overrides, message', [
    ({'name': 'Product_Catalog'}, 'name'),
    ({'name': '9lives'}, 'starting with a letter'),
    ({'namespace': 'Default'}, 'namespace'),
    ({'service_account': 'bad_name'}, 'service_account'),
    ({'labels': {'app': 'has space'}}, 'label value'),
    ({'labels': {'bad key!': 'x'}}, 'label key'),
    ({'ports': None}, 'ports is required: list the ports the VM serves (number and protocol), or give ports: []'),
    ({'ports': [], 'mode': 'legacy', 'address': '10.168.0.20'}, 'ports is empty, but mode legacy makes a Service'),
    ({'ports': [], 'services': [{'name': 'catalog', 'ports': [3550]}]}, "lists port 3550, which is not in ports ([])"),
    ({'annotations': {'bad key!': 'x'}}, "annotations key 'bad key!' is not a valid annotation key"),
    ({'annotations': {'meshbridge.io/workload-group': 'other'}}, 'is the one mesh_add_vm sets itself'),
    ({'annotations': {'example.com/replicas': 2}}, "annotations['example.com/replicas'] = 2 is not a string"),
    ({'annotations': {'proxy.istio.io/config': '[1, 2]'}}, 'must be a YAML mapping of ProxyConfig fields'),
    ({'annotations': {'proxy.istio.io/config': 'a: [b'}}, "annotations['proxy.istio.io/config'] is not YAML"),
    ({'annotations': {'proxy.istio.io/config': 'proxyMetadata: {A: true}'}}, 'proxyMetadata must map names to strings'),
    ({'annotations': {'example.com/big': 'x' * (256 * 1024)}}, 'longer than the 262144 bytes'),
    ({'ports': [{'number': 70000, 'protocol': 'grpc', 'name': None}]}, '1-65535'),
    ({'ports': [{'number': 3550, 'protocol': 'grpc', 'name': 'http-3550'}]}, 'start with "grpc-"'),
    ({'ports': [{'number': 3550, 'protocol': 'grpc', 'name': 'grpc_3550'}]}, 'not a valid Kubernetes name'),
    ({'ports': [{'number': 3550, 'protocol': 'grpc', 'name': None}, {'number': 3550, 'protocol': 'tcp', 'name': None}]},
     'unique'),
    ({'auto_register': False}, 'address (the VM IP) is required when auto_register is false'),
    ({'mode': 'legacy'}, 'address (the VM IP) is required when mode is legacy'),
    ({'address': '10.168.0.300'}, 'not an IP address'),
    ({'probe': {'grpc': {'port': 3550}, 'tcp_socket': {'port': 3550}}}, 'exactly one'),
    ({'probe': {'http_get': {'port': 0}}}, 'http_get.port'),
])
def test_bad_input_names_the_parameter(overrides, message):
    with pytest.raises(WorkloadSpecError, match=re.escape(message)):
        VmWorkload(params(**overrides))


def test_absent_needs_only_the_names():
    workload = VmWorkload(params(state='absent', ports=None, mode='legacy'))
    assert workload.name == 'productcatalogservice'


@pytest.mark.parametrize('address, entry', [
    ('10.168.0.20', 'productcatalogservice-10-168-0-20'),
    ('fd00:10:168::', 'productcatalogservice-fd00-10-168'),
    ('FD00:10:168::', 'productcatalogservice-fd00-10-168'),
    ('fd00::20', 'productcatalogservice-fd00--20'),
    ('FD00:0:0::20', 'productcatalogservice-fd00--20'),
])
def test_static_entry_names_are_valid_object_names_for_any_address(address, entry):
    workload = VmWorkload(params(auto_register=False, address=address))
    assert workload.workload_entry_name == entry
    assert workload.workload_entry_object('networking.istio.io/v1')['spec']['address'] == address


def test_annotations_go_to_the_group_and_the_static_entry():
    annotations = {'proxy.istio.io/config': 'concurrency: 2\n', 'example.com/owner': 'team boutique'}
    workload = VmWorkload(params(annotations=annotations, auto_register=False, address='10.168.0.20'))
    group = workload.workload_group_object('networking.istio.io/v1')
    assert group['spec']['metadata'] == {'labels': {'app': 'productcatalogservice'}, 'annotations': annotations}
    assert 'annotations' not in group['metadata']
    entry = workload.workload_entry_object('networking.istio.io/v1')
    assert entry['metadata']['annotations'] == dict(annotations,
                                                    **{'meshbridge.io/workload-group': 'productcatalogservice'})
    assert 'annotations' not in VmWorkload(params()).workload_group_object('networking.istio.io/v1')['spec']['metadata']


def test_no_ports_is_a_group_without_ports_and_no_service():
    workload = VmWorkload(params(ports=[]))
    assert workload.services == []
    assert workload.service_objects() == []
    group = workload.workload_group_object('networking.istio.io/v1')
    assert group['spec']['template'] == {'serviceAccount': 'productcatalogservice'}
    entry = VmWorkload(params(ports=[], auto_register=False, address='10.168.0.20')).workload_entry_object('v1')
    assert 'ports' not in entry['spec']
