"""kubeconfig_entry through its own entry point, with real AnsibleModule argument handling."""

import base64
import contextlib
import io
import json
import re

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.meshbridge.istio_vm.plugins.modules import kubeconfig_entry

PEM = ('-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIBATAKBggqhkjOPQQDAjAAMB4XDTI2MDEwMTAwMDAwMFoX\n'
       '-----END CERTIFICATE-----\n')
CA_DATA = base64.b64encode(PEM.encode()).decode()


def run(check=False, **params):
    """Run the module; return its result dict (``failed`` set when it failed)."""
    args = dict(params, _ansible_check_mode=check)
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        kubeconfig_entry.main()
    return json.loads(out.getvalue())


def entry(path, **overrides):
    params = dict(path=str(path), context='west', cluster_name='gke_p_z_west', server='https://127.0.10.1',
                  certificate_authority_data=CA_DATA)
    params.update(overrides)
    return params


def test_base64_of_a_pem_certificate_is_written(tmp_path):
    result = run(**entry(tmp_path / 'config'))
    assert not result.get('failed'), result
    written = yaml.safe_load((tmp_path / 'config').read_text())
    assert written['clusters'][0]['cluster']['certificate-authority-data'] == CA_DATA


@pytest.mark.parametrize('data, message', [
    (PEM, 'certificate_authority_data is a PEM certificate, not base64 of one.*b64encode'),
    ('not base64 at all!', 'certificate_authority_data is not base64'),
    (base64.b64encode(b'just some bytes').decode(), 'certificate_authority_data decodes to no PEM certificate'),
])
def test_certificate_authority_data_must_be_base64_of_a_pem_certificate(tmp_path, data, message):
    result = run(**entry(tmp_path / 'config', certificate_authority_data=data))
    assert result.get('failed') and re.search(message, result['msg']), result
    assert not (tmp_path / 'config').exists()


def test_absent_with_token_auth_needs_no_token(tmp_path):
    assert not run(**entry(tmp_path / 'config', auth='token', token='t0ken')).get('failed')
    removed = run(path=str(tmp_path / 'config'), state='absent', context='west', cluster_name='gke_p_z_west',
                  auth='token')
    assert not removed.get('failed'), removed
    assert removed['changed'] is True
    assert yaml.safe_load((tmp_path / 'config').read_text())['contexts'] == []


def test_present_with_token_auth_needs_the_token(tmp_path):
    result = run(**entry(tmp_path / 'config', auth='token'))
    assert result.get('failed') and 'token' in result['msg'], result
