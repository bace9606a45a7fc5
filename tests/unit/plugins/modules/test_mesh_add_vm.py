"""mesh_add_vm's own checks of its options, before any connection."""

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.workload_group import WorkloadSpecError
from ansible_collections.meshbridge.istio_vm.plugins.modules import mesh_add_vm


def options(**overrides):
    params = {'token_duration': 3600, 'token_renew_before': 300, 'wait_timeout': 60, 'istiod_address': None,
              'require_gateway': True}
    params.update(overrides)
    return params


def test_require_gateway_false_with_istiod_address_is_refused():
    with pytest.raises(WorkloadSpecError, match='require_gateway=false has no effect when istiod_address is given .*'
                                                'remove one of them'):
        mesh_add_vm._check_numbers(options(istiod_address='10.168.8.1', require_gateway=False))
    mesh_add_vm._check_numbers(options(istiod_address='10.168.8.1'))
    mesh_add_vm._check_numbers(options(require_gateway=False))


def test_the_new_options_are_in_the_argument_spec_and_the_documentation():
    import yaml
    documented = yaml.safe_load(mesh_add_vm.DOCUMENTATION)['options']
    spec = mesh_add_vm._argument_spec()
    for name in ('annotations', 'require_gateway'):
        assert name in spec and name in documented, name
    assert documented['require_gateway']['default'] is True and spec['require_gateway']['default'] is True
