"""The workload_entry_health filter: each VM's WorkloadEntry among a namespace's, and whether it is ready.

Imported when a test runs (see test_mesh_registration_filter.py for why)."""

import pytest


def health(entries, wanted, require_health=True):
    from ansible_collections.meshbridge.istio_vm.plugins.filter.workload_entry_health import FilterModule
    return FilterModule().filters()['workload_entry_health'](entries, wanted, require_health)


def _entry(name, status=None, message=None, labels=None):
    entry = {'metadata': {'name': name}, 'spec': {'address': '10.168.0.20', 'labels': labels or {'app': 'vm'}}}
    if status:
        condition = {'type': 'Healthy', 'status': status}
        if message:
            condition['message'] = message
        entry['status'] = {'conditions': [{'type': 'Other', 'status': 'True'}, condition]}
    return entry


def test_a_healthy_entry_under_either_name_is_ready():
    wanted = {'istio-gce': ['istio-gce-10.168.0.20', 'istio-gce-10-168-0-20']}
    found = health([_entry('other-10.168.0.9', 'True'), _entry('istio-gce-10-168-0-20', 'True')], wanted)
    assert found == {'istio-gce': {'name': 'istio-gce-10-168-0-20', 'address': '10.168.0.20', 'labels': {'app': 'vm'},
                                   'health': 'True', 'message': '', 'ready': True}}


def test_unhealthy_missing_and_unreported_entries_are_not_ready():
    wanted = {'a': ['a-1'], 'b': ['b-1'], 'c': ['c-1']}
    found = health([_entry('a-1', 'False', 'connection refused'), _entry('c-1')], wanted)
    assert (found['a']['ready'], found['a']['health'], found['a']['message']) == (False, 'False', 'connection refused')
    assert (found['b']['ready'], found['b']['name']) == (False, '')
    assert (found['c']['ready'], found['c']['health']) == (False, '')


def test_without_required_health_only_an_unreported_entry_changes():
    found = health([_entry('a-1', 'False'), _entry('c-1'), _entry('d-1', 'Unknown')],
                   {'a': ['a-1'], 'c': ['c-1'], 'd': ['d-1']}, require_health=False)
    assert [found[vm]['ready'] for vm in 'acd'] == [False, True, False]


def test_wanted_must_map_vms_to_names():
    from ansible.errors import AnsibleFilterError
    with pytest.raises(AnsibleFilterError, match='wanted must map each VM'):
        health([], ['istio-gce'])
