"""Missing or unusable credentials end the module with a message that names the parameter and the fix, before any
request that changes something, never with a traceback."""

import http.server
import json
import threading

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import exceptions as auth_exceptions

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp import client as client_module
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.client import GcpClient, RetryPolicy
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.compute import Firewall
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import GcpAuthError
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.runner import run_resource_module

from ..fake_clock import FakeClock
from .fakes import ScriptedSession, response

URL = 'https://compute.googleapis.com/compute/v1/projects/p/global/firewalls/f'
RULE_URL = 'https://compute.googleapis.com/compute/v1/projects/p/global/firewalls/k8s-to-istio-gce'


class Failed(Exception):
    """What fail_json raises here, as AnsibleModule.fail_json ends the process."""


class Exited(Exception):
    """What exit_json raises here."""


class FakeModule:
    """The part of AnsibleModule that run_resource_module uses."""

    def __init__(self, params, check_mode=False):
        self.params = params
        self.check_mode = check_mode

    def fail_json(self, **result):
        raise Failed(result)

    def exit_json(self, **result):
        raise Exited(result)


def module_params(**overrides):
    params = dict(project='p', auth_kind='application', service_account_file=None, service_account_contents=None,
                  access_token=None, scopes=None, api_retries=0,
                  name='k8s-to-istio-gce', state='present', network='default', description='', priority=1000,
                  source_ranges=['10.4.0.0/14'], source_tags=[], target_tags=['istio-gce'],
                  allowed=[{'protocol': 'tcp', 'ports': ['3550']}], operation_timeout=300)
    params.update(overrides)
    return params


def failure_of(params, check_mode=False):
    """The fail_json arguments of a firewall module run with ``params``; any other outcome fails the test."""
    with pytest.raises(Failed) as caught:
        run_resource_module(FakeModule(params, check_mode), Firewall)
    return caught.value.args[0]


@pytest.fixture(name='no_adc')
def fixture_no_adc(monkeypatch, tmp_path):
    """An environment where Application Default Credentials come only from GOOGLE_APPLICATION_CREDENTIALS."""
    monkeypatch.setenv('HOME', str(tmp_path))
    monkeypatch.setenv('CLOUDSDK_CONFIG', str(tmp_path / 'gcloud'))
    monkeypatch.setenv('NO_GCE_CHECK', 'True')
    for name in ('GOOGLE_CLOUD_PROJECT', 'GCLOUD_PROJECT', 'GOOGLE_API_USE_CLIENT_CERTIFICATE'):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.mark.parametrize('content', [None, '{"type": "authorized_user", "client_id": '])
def test_application_default_credentials_missing_or_broken(no_adc, monkeypatch, content):
    path = no_adc / 'adc.json'
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv('GOOGLE_APPLICATION_CREDENTIALS', str(path))
    failure = failure_of(module_params())
    assert 'auth_kind=application' in failure['msg']
    assert 'gcloud auth application-default login' in failure['msg']
    assert str(path) in failure['msg']


def test_service_account_file_missing_names_the_parameter_and_the_fix(tmp_path):
    missing = tmp_path / 'key.json'
    failure = failure_of(module_params(auth_kind='serviceaccount', service_account_file=str(missing)))
    assert 'service_account_file' in failure['msg'] and 'GCP_SERVICE_ACCOUNT_FILE' in failure['msg']
    assert str(missing) in failure['msg'] and 'gcloud iam service-accounts keys create' in failure['msg']


@pytest.mark.parametrize('content', ['not json', '["a list"]', '{"type": "service_account"}',
                                     '{"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com", '
                                     '"token_uri": "https://oauth2.googleapis.com/token", "private_key": "garbage"}'])
def test_service_account_file_unusable(tmp_path, content):
    key = tmp_path / 'key.json'
    key.write_text(content)
    failure = failure_of(module_params(auth_kind='serviceaccount', service_account_file=str(key)))
    assert 'service_account_file' in failure['msg'] and 'GCP_SERVICE_ACCOUNT_FILE' in failure['msg']
    assert 'gcloud iam service-accounts keys create' in failure['msg']


def test_service_account_contents_not_an_object():
    failure = failure_of(module_params(auth_kind='serviceaccount', service_account_contents='["a list"]'))
    assert 'service_account_contents' in failure['msg'] and 'gcloud iam service-accounts keys create' in failure['msg']


class _TokenEndpoint(http.server.BaseHTTPRequestHandler):
    """Google's token endpoint refusing the assertion of a deleted service account key."""
    requests = []

    def do_POST(self):  # pylint: disable=invalid-name
        self.rfile.read(int(self.headers['Content-Length']))
        _TokenEndpoint.requests.append(self.path)
        body = json.dumps({'error': 'invalid_grant', 'error_description': 'Invalid JWT Signature.'}).encode()
        self.send_response(400)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


@pytest.fixture(name='token_endpoint')
def fixture_token_endpoint():
    server = http.server.HTTPServer(('127.0.0.1', 0), _TokenEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _TokenEndpoint.requests = []
    yield 'http://127.0.0.1:%d/token' % server.server_address[1]
    server.shutdown()
    server.server_close()


def service_account_key(token_uri):
    """A service account key file's content, as `gcloud iam service-accounts keys create` writes it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return json.dumps({'type': 'service_account', 'project_id': 'p', 'private_key_id': 'k1', 'private_key': pem,
                       'client_email': 'deployer@p.iam.gserviceaccount.com', 'client_id': '1',
                       'token_uri': token_uri})


@pytest.mark.parametrize('check_mode', [False, True])
def test_a_deleted_key_fails_at_the_first_request_before_any_change(monkeypatch, tmp_path, token_endpoint, check_mode):
    key = tmp_path / 'key.json'
    key.write_text(service_account_key(token_endpoint))
    sent = []
    real_request = client_module.AuthorizedSession.request

    def recording_request(session, method, url, *args, **kwargs):
        sent.append((method, url))
        return real_request(session, method, url, *args, **kwargs)
    monkeypatch.setattr(client_module.AuthorizedSession, 'request', recording_request)
    failure = failure_of(module_params(auth_kind='serviceaccount', service_account_file=str(key)), check_mode)
    assert _TokenEndpoint.requests == ['/token']
    assert sent == [('GET', RULE_URL)]  # the first request, a read, is where it stops
    assert 'invalid_grant' in failure['msg'] and 'Invalid JWT Signature.' in failure['msg']
    assert 'service_account_file' in failure['msg'] and 'GCP_SERVICE_ACCOUNT_FILE' in failure['msg']
    assert 'gcloud iam service-accounts keys create' in failure['msg']


def make_client(session, retries=2):
    clock = FakeClock()
    return GcpClient(policy=RetryPolicy(retries=retries), session=session, sleep=clock.sleep,
                     auth_remedy='run `gcloud auth application-default login`'), clock


def test_refresh_error_is_not_retried_and_names_the_fix():
    session = ScriptedSession(auth_exceptions.RefreshError('invalid_grant: Bad Request',
                                                           {'error': 'invalid_grant', 'error_description': 'Bad Request'}))
    client, clock = make_client(session)
    with pytest.raises(GcpAuthError) as caught:
        client.get(URL)
    assert str(caught.value) == ('GET %s: the credentials were refused when getting an access token: invalid_grant: '
                                 'Bad Request. run `gcloud auth application-default login`' % URL)
    assert not clock.sleeps


def test_token_endpoint_unreachable_is_retried_then_named():
    refused = auth_exceptions.TransportError('Connection refused')
    session = ScriptedSession(refused, response(200, {'name': 'f'}))
    client, dummy = make_client(session)
    assert client.get(URL) == {'name': 'f'}
    assert client.retried[0]['cause'] == 'TransportError'

    client, dummy = make_client(ScriptedSession(refused, refused, refused))
    with pytest.raises(GcpAuthError, match=r'GET .*: could not reach the token endpoint after 3 attempts: Connection refused\. Check the .*\. run `gcloud'):
        client.get(URL)
