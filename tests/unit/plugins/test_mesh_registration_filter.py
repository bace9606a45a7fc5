"""The mesh_registration filter: one VM of the VM list as mesh_add_vm arguments.

The filter is imported when a test runs, not when tests are collected: importing Ansible's controller side
(ansible.errors) changes how module warnings are recorded for the module tests that run in the same process.
"""

import pytest


def mesh_registration(vm):
    from ansible_collections.meshbridge.istio_vm.plugins.filter.mesh_registration import FilterModule
    return FilterModule().filters()['mesh_registration'](vm)


def test_the_tutorials_vm_is_one_group_with_one_service():
    registration = mesh_registration({'name': 'istio-gce', 'services': [{'name': 'productcatalogservice', 'port': 3550}]})
    assert registration == {
        'name': 'istio-gce',
        'labels': {'app': 'istio-gce'},
        'ports': [{'number': 3550, 'protocol': 'grpc'}],
        'services': [{'name': 'productcatalogservice', 'ports': [3550]}],
    }


def test_two_services_on_one_vm_share_its_group_and_keep_their_own_services():
    registration = mesh_registration({'name': 'vm-b', 'services': [
        {'name': 'productcatalogservice', 'port': 3550}, {'name': 'currencyservice', 'port': '7000', 'protocol': 'tcp'}]})
    assert registration['ports'] == [{'number': 3550, 'protocol': 'grpc'}, {'number': 7000, 'protocol': 'tcp'}]
    assert registration['services'] == [{'name': 'productcatalogservice', 'ports': [3550]},
                                        {'name': 'currencyservice', 'ports': [7000]}]


@pytest.mark.parametrize('vm', [{'services': []}, {'name': 'vm'}, {'name': 'vm', 'services': []}, {'name': 'vm', 'services': [{'name': 'x'}]},
                                {'name': 'vm', 'services': [{'name': 'x', 'port': 'http'}]}])
def test_an_incomplete_entry_is_refused_with_the_shape_it_needs(vm):
    from ansible.errors import AnsibleFilterError
    with pytest.raises(AnsibleFilterError, match='needs a name and services with a name and a port'):
        mesh_registration(vm)
