"""The exact limits of the collection's input checks: the last value accepted and the first refused, so a check that
is off by one (65536 taken for a port, 64 characters for a label value) fails a test. Each limit is asserted on both
sides; the mutant each test kills is named in its docstring."""

import contextlib
import io
import json
import re

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp import validation
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import GcpInputError
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.workload_group import VmWorkload, WorkloadSpecError
from ansible_collections.meshbridge.istio_vm.plugins.modules import grpc_call, grpc_health

LABEL_63 = 'a' * 63
LABEL_64 = 'a' * 64


# ---- ports ---------------------------------------------------------------------------------------------------------

def test_firewall_ports_end_at_65535():
    """Kills `high <= 65535` -> `high <= 65536` (or `< 65535`) in gcp/validation.check_ports."""
    assert validation.check_ports('allowed', ['65535', '1-65535', '1']) == ['65535', '1-65535', '1']
    for port in ('65536', '1-65536', '0'):
        with pytest.raises(GcpInputError, match=re.escape('contains %r: give a port 1-65535' % port)):
            validation.check_ports('allowed', [port])


def _workload(ports=None, labels=None):
    params = {'name': 'productcatalogservice', 'namespace': 'default', 'service_account': None, 'labels': labels,
              'ports': ports or [{'number': 3550, 'protocol': 'grpc', 'name': None}], 'network': '', 'address': None,
              'auto_register': True, 'mode': 'workload_group', 'probe': None, 'state': 'present'}
    return VmWorkload(params)


def test_workload_ports_end_at_65535():
    """Kills `number <= 65535` -> `<= 65536` (or `< 65535`) in workload_group.Port.from_param."""
    assert [port.number for port in _workload(ports=[{'number': 65535, 'protocol': 'grpc', 'name': None}]).ports] == [65535]
    with pytest.raises(WorkloadSpecError, match='ports: number 65536 is outside 1-65535'):
        _workload(ports=[{'number': 65536, 'protocol': 'grpc', 'name': None}])


def _module_result(module, **params):
    out = io.StringIO()
    with patch_module_args(dict(params, _ansible_check_mode=False)), contextlib.redirect_stdout(out), \
            pytest.raises(SystemExit):
        module.main()
    return json.loads(out.getvalue())


@pytest.mark.parametrize('module, params', [
    (grpc_call, {'method': 'grpc.health.v1.Health/Check', 'retry': False}),
    (grpc_health, {}),
])
def test_grpc_module_ports_end_at_65535(module, params):
    """Kills `port <= 65535` -> `<= 65536` (or `< 65535`) in the grpc_call and grpc_health modules. 65535 passes the
    check and is called (nothing listens on 127.0.0.1:65535 here, so the call fails for that reason instead)."""
    refused = _module_result(module, host='127.0.0.1', port=65536, timeout=1, **params)
    assert refused['failed'] and refused['msg'] == 'port must be between 1 and 65535, got 65536'
    called = _module_result(module, host='127.0.0.1', port=65535, timeout=1, **params)
    assert 'port must be' not in called.get('msg', ''), called


# ---- label values --------------------------------------------------------------------------------------------------

def test_gcp_label_values_and_keys_end_at_63_characters():
    """Kills `{0,63}` -> `{0,64}` for values and `{0,62}` -> `{0,63}` for keys in gcp/validation."""
    key_63 = 'k' + 'a' * 62
    assert validation.check_labels('labels', {'team': LABEL_63, key_63: 'x'}) == {'team': LABEL_63, key_63: 'x'}
    with pytest.raises(GcpInputError, match=re.escape("labels[team]=%r is not a valid label value" % LABEL_64)):
        validation.check_labels('labels', {'team': LABEL_64})
    with pytest.raises(GcpInputError, match='is not a valid label key'):
        validation.check_labels('labels', {key_63 + 'a': 'x'})


def test_kubernetes_label_values_end_at_63_characters():
    """Kills `len(value) > 63` -> `> 64` (or `>= 63`) in workload_group's label check."""
    assert _workload(labels={'app': LABEL_63}).labels == {'app': LABEL_63}
    with pytest.raises(WorkloadSpecError, match=re.escape("labels['app'] = %r is not a valid label value" % LABEL_64)):
        _workload(labels={'app': LABEL_64})


def test_gcp_names_end_at_63_characters():
    """Kills `len(value) > max_length` -> `>=` in gcp/validation.check_name. (Its pattern's `{0,61}` -> `{0,62}` alone
    survives: the length check refuses 64 characters too; the two guards are redundant at 63.)"""
    assert validation.check_name('name', 'a' * 63) == 'a' * 63
    with pytest.raises(GcpInputError):
        validation.check_name('name', 'a' * 64)
