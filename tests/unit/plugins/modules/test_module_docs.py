"""Every module takes the meaning of check_mode, diff_mode and idempotent from a doc fragment and states only its
own support and details (the house rule in docs/dev/conventions.md: shared option docs live in doc_fragments)."""

import importlib
import os

import pytest
import yaml

MODULES_DIR = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'plugins', 'modules')
MODULES = sorted(name[:-3] for name in os.listdir(MODULES_DIR) if name.endswith('.py') and name != '__init__.py')
ATTRIBUTE_FRAGMENTS = ('meshbridge.istio_vm.attributes', 'ansible.builtin.action_common_attributes')


@pytest.mark.parametrize('name', MODULES)
def test_attributes_come_from_a_fragment_and_are_not_repeated(name):
    module = importlib.import_module('ansible_collections.meshbridge.istio_vm.plugins.modules.' + name)
    documentation = yaml.safe_load(module.DOCUMENTATION)
    fragments = documentation.get('extends_documentation_fragment') or []
    assert any(fragment in fragments for fragment in ATTRIBUTE_FRAGMENTS), fragments
    for attribute in ('check_mode', 'diff_mode', 'idempotent'):
        stated = documentation['attributes'][attribute]
        assert 'support' in stated and 'description' not in stated, (attribute, stated)
