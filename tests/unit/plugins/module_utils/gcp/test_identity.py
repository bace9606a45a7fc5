"""One account for the whole run: who the GCP credentials are, for a service account key and for a user's
Application Default Credentials alike, and the file they come from for the kubeconfig's auth plugin."""

import json
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import kubeconfig
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp import auth
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import GcpAuthError

EMAIL_SCOPE = 'https://www.googleapis.com/auth/userinfo.email'


def _key(tmp_path, email='deployer@p.iam.gserviceaccount.com'):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info = {'type': 'service_account', 'project_id': 'p', 'private_key_id': 'k1', 'client_email': email,
            'client_id': '1', 'token_uri': 'https://oauth2.googleapis.com/token',
            'private_key': key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()).decode()}
    path = tmp_path / 'key.json'
    path.write_text(json.dumps(info))
    return str(path)


def _params(**overrides):
    params = dict(project='p', auth_kind='application', service_account_file=None, service_account_contents=None,
                  access_token=None, scopes=None, api_retries=0)
    params.update(overrides)
    return params


def _no_tokeninfo(token):
    raise AssertionError('a service account key names its account without asking Google')


def test_a_service_account_key_names_its_account_without_a_request(tmp_path):
    params = _params(auth_kind='serviceaccount', service_account_file=_key(tmp_path))
    credentials = auth.credentials_from_params(params, default_scopes=auth.IDENTITY_SCOPES)
    assert auth.find_identity(credentials, params, _no_tokeninfo) == (
        'deployer@p.iam.gserviceaccount.com', 'the service account key')
    assert credentials.scopes == list(auth.IDENTITY_SCOPES)


def test_a_user_is_named_by_tokeninfo():
    # An access token given as it is: nothing to refresh, tokeninfo says whose it is.
    params = _params(auth_kind='accesstoken', access_token='ya29.user')
    credentials = auth.credentials_from_params(params)
    asked = []

    def tokeninfo(token):
        asked.append(token)
        return {'email': 'someone@example.com', 'scope': 'openid %s' % EMAIL_SCOPE}
    assert auth.find_identity(credentials, params, tokeninfo)[0] == 'someone@example.com'
    assert asked == ['ya29.user']


def test_a_token_without_the_email_scope_names_no_one_and_says_why():
    params = _params(auth_kind='accesstoken', access_token='ya29.narrow')
    credentials = auth.credentials_from_params(params)
    identity, why = auth.find_identity(credentials, params, lambda token: {'scope': auth.CLOUD_PLATFORM_SCOPE})
    assert identity is None
    assert auth.CLOUD_PLATFORM_SCOPE in why and EMAIL_SCOPE in why


def test_refused_user_credentials_say_what_to_do(monkeypatch):
    credentials = user_credentials.Credentials(None, refresh_token='1//r', client_id='c', client_secret='s',
                                               token_uri='https://oauth2.googleapis.com/token')

    def refuse(self, request):
        raise auth.google_auth_exceptions.RefreshError('invalid_grant: Token has been expired or revoked.')
    monkeypatch.setattr(user_credentials.Credentials, 'refresh', refuse)
    with pytest.raises(GcpAuthError) as refused:
        auth.find_identity(credentials, _params(), _no_tokeninfo)
    assert 'Token has been expired or revoked' in str(refused.value)
    assert 'gcloud auth application-default login' in str(refused.value)


def test_the_credentials_file_is_the_one_the_modules_read(tmp_path, monkeypatch):
    key = _key(tmp_path)
    assert auth.credentials_file(_params(auth_kind='serviceaccount', service_account_file=key)) == os.path.realpath(key)
    assert auth.credentials_file(_params(auth_kind='serviceaccount', service_account_contents='{}')) is None
    assert auth.credentials_file(_params(auth_kind='accesstoken', access_token='t')) is None
    # auth_kind=application: GOOGLE_APPLICATION_CREDENTIALS first, then the file gcloud's ADC login writes.
    gcloud = tmp_path / 'gcloud'
    gcloud.mkdir()
    assert auth.application_default_file({'CLOUDSDK_CONFIG': str(gcloud), 'HOME': str(tmp_path)}) is None
    (gcloud / 'application_default_credentials.json').write_text('{"type": "authorized_user"}')
    environ = {'CLOUDSDK_CONFIG': str(gcloud)}
    assert auth.application_default_file(environ) == str(gcloud / 'application_default_credentials.json')
    environ['GOOGLE_APPLICATION_CREDENTIALS'] = key
    assert auth.application_default_file(environ) == os.path.realpath(key)
    monkeypatch.setenv('GOOGLE_APPLICATION_CREDENTIALS', key)
    assert auth.credentials_file(_params()) == os.path.realpath(key)


def test_the_kubeconfig_plugin_uses_those_credentials():
    assert 'args' not in kubeconfig.user_entry('gke_auth_plugin')['exec']
    plugin = kubeconfig.user_entry('gke_auth_plugin', application_default_credentials=True,
                                   credentials_file='/keys/deployer.json')['exec']
    assert plugin['args'] == ['--use_application_default_credentials']
    assert plugin['env'] == [{'name': 'GOOGLE_APPLICATION_CREDENTIALS', 'value': '/keys/deployer.json'}]
    # From the metadata server (no file): the flag alone.
    assert 'env' not in kubeconfig.user_entry('gke_auth_plugin', application_default_credentials=True)['exec']


def test_a_service_account_of_application_default_credentials_is_named_too(tmp_path):
    credentials = service_account.Credentials.from_service_account_file(_key(tmp_path, 'ci@p.iam.gserviceaccount.com'))
    assert auth.find_identity(credentials, _params(), _no_tokeninfo)[0] == 'ci@p.iam.gserviceaccount.com'
