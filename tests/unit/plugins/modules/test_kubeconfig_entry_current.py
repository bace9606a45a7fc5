"""kubeconfig_entry's set_current: true makes the entry's context the current one, false leaves the current context
as it was (it kills the mutant that ignores set_current, setting the context always)."""

import base64
import contextlib
import io
import json

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.meshbridge.istio_vm.plugins.modules import kubeconfig_entry

PEM = ('-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIBATAKBggqhkjOPQQDAjAAMB4XDTI2MDEwMTAwMDAwMFoX\n'
       '-----END CERTIFICATE-----\n')
OTHER = {'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'prod',
         'clusters': [{'name': 'prod', 'cluster': {'server': 'https://prod.example'}}],
         'users': [{'name': 'prod', 'user': {'token': 'prod-secret'}}],
         'contexts': [{'name': 'prod', 'context': {'cluster': 'prod', 'user': 'prod'}}]}


def run(**params):
    args = dict(path=params.pop('path'), context='west', cluster_name='gke_p_z_west', server='https://127.0.10.1',
                certificate_authority_data=base64.b64encode(PEM.encode()).decode(), _ansible_check_mode=False, **params)
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        kubeconfig_entry.main()
    result = json.loads(out.getvalue())
    assert not result.get('failed'), result
    return result


@pytest.fixture
def config(tmp_path):
    path = tmp_path / 'config'
    path.write_text(yaml.safe_dump(OTHER))
    return path


def test_set_current_false_adds_the_context_and_leaves_the_current_one(config):
    assert run(path=str(config), set_current=False)['changed']
    written = yaml.safe_load(config.read_text())
    assert [context['name'] for context in written['contexts']] == ['prod', 'west']
    assert written['current-context'] == 'prod'
    # Again: nothing to change, and still not current.
    assert not run(path=str(config), set_current=False)['changed']
    assert yaml.safe_load(config.read_text())['current-context'] == 'prod'


def test_set_current_false_on_a_new_file_leaves_no_current_context(tmp_path):
    run(path=str(tmp_path / 'config'), set_current=False)
    assert yaml.safe_load((tmp_path / 'config').read_text()).get('current-context', '') == ''


def test_set_current_true_is_the_default_and_switches(config):
    assert run(path=str(config))['changed']
    assert yaml.safe_load(config.read_text())['current-context'] == 'west'
    # An entry already present but not current: set_current changes that alone.
