"""The Kubernetes API stand-in as the lab runs it: the daemon, state kept across restarts, and the
lifecycle rules of namespaces, finalizers and the status subresource."""

import base64
import json
import os
import signal
import subprocess
import sys

import pytest
import requests

from lab.kube.testing import running_kube_api

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _Client:
    def __init__(self, kube, token=None):
        self.url, self.ca_path, self.token = kube.url, kube.ca_path, token or kube.token

    def call(self, method, path, body=None, content_type='application/json'):
        response = requests.request(method, self.url + path, data=None if body is None else json.dumps(body),
                                    headers={'Authorization': 'Bearer ' + self.token, 'Content-Type': content_type},
                                    verify=self.ca_path, timeout=10)
        return response.status_code, response.json()


def test_daemon_serves_until_sigterm_with_its_admin_token_only(tmp_path):
    daemon = subprocess.Popen([sys.executable, '-m', 'lab.kube', 'serve', '--state-dir', str(tmp_path / 'state'),
                               '--host', '127.0.0.1', '--port', '0'],
                              cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        line = daemon.stderr.readline()
        assert 'listening on https://127.0.0.1:' in line, line
        url = line.split('listening on ')[1].split()[0]
        ca_path = str(tmp_path / 'state' / 'pki' / 'ca.pem')
        stranger = {'Authorization': 'Bearer ya29.lab-access-token'}
        assert requests.get(url + '/api/v1/namespaces', headers=stranger, verify=ca_path, timeout=10).status_code == 401
        admin = {'Authorization': 'Bearer ' + (tmp_path / 'state' / 'admin-token').read_text().strip()}
        listed = requests.get(url + '/api/v1/namespaces', headers=admin, verify=ca_path, timeout=10)
        assert listed.status_code == 200 and 'kube-system' in [n['metadata']['name'] for n in listed.json()['items']]
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0
        daemon.stderr.close()
    assert (tmp_path / 'state' / 'objects.json').stat().st_mode & 0o777 == 0o600


def test_state_survives_a_restart(tmp_path):
    with running_kube_api(tmp_path) as kube:
        client = _Client(kube)
        assert client.call('POST', '/api/v1/namespaces', {'metadata': {'name': 'kept'}})[0] == 201
        uid = client.call('GET', '/api/v1/namespaces/kept')[1]['metadata']['uid']
        token = kube.token
    with running_kube_api(tmp_path) as kube:
        assert kube.token == token
        code, namespace = _Client(kube).call('GET', '/api/v1/namespaces/kept')
        assert code == 200 and namespace['metadata']['uid'] == uid


def test_system_namespaces_cannot_be_deleted(tmp_path):
    with running_kube_api(tmp_path) as kube:
        code, status = _Client(kube).call('DELETE', '/api/v1/namespaces/kube-system')
        assert code == 403 and status['reason'] == 'Forbidden'
        assert status['message'] == 'namespaces "kube-system" is forbidden: this namespace may not be deleted'


def test_finalizers_hold_deletion_until_removed(tmp_path):
    with running_kube_api(tmp_path) as kube:
        client = _Client(kube)
        path = '/api/v1/namespaces/default/configmaps'
        client.call('POST', path, {'metadata': {'name': 'held', 'finalizers': ['lab.example/hold']}})
        code, marked = client.call('DELETE', path + '/held')
        assert code == 200 and marked['metadata']['deletionTimestamp']
        assert client.call('GET', path + '/held')[0] == 200
        client.call('PATCH', path + '/held', {'metadata': {'finalizers': None}}, 'application/merge-patch+json')
        assert client.call('GET', path + '/held')[0] == 404


def test_status_goes_through_the_status_subresource_only(tmp_path):
    with running_kube_api(tmp_path, deployment_ready_seconds=60) as kube:
        client = _Client(kube)
        path = '/apis/apps/v1/namespaces/default/deployments'
        client.call('POST', path, {'metadata': {'name': 'web'}, 'spec': {
            'selector': {'matchLabels': {'app': 'web'}},
            'template': {'metadata': {'labels': {'app': 'web'}},
                         'spec': {'containers': [{'name': 'web', 'image': 'nginx:1.27'}]}}}})
        fake = {'status': {'readyReplicas': 7}}
        code, ignored = client.call('PATCH', path + '/web', fake, 'application/merge-patch+json')
        assert code == 200 and ignored.get('status', {}).get('readyReplicas') != 7
        code, taken = client.call('PATCH', path + '/web/status', fake, 'application/merge-patch+json')
        assert code == 200 and taken['status']['readyReplicas'] == 7
        code, status = client.call('PATCH', path + '/web/status', {'spec': {'replicas': 5}},
                                   'application/merge-patch+json')
        assert code == 200 and status['spec']['replicas'] == 1 and status['metadata']['generation'] == 1


@pytest.mark.parametrize('path', ['/api/v1/namespaces/default/configmaps/x/status', '/apis/nothing.example/v1',
                                  '/api/v1/namespaces/default/widgets'])
def test_unknown_paths_are_404(tmp_path, path):
    with running_kube_api(tmp_path) as kube:
        code, status = _Client(kube).call('GET', path)
        assert code == 404 and status['reason'] == 'NotFound'


def test_revisioned_istiod_without_cacerts_publishes_its_self_signed_root(tmp_path):
    with running_kube_api(tmp_path, deployment_ready_seconds=0.05) as kube:
        client = _Client(kube)
        client.call('POST', '/api/v1/namespaces', {'metadata': {'name': 'istio-system'}})
        client.call('POST', '/apis/apps/v1/namespaces/istio-system/deployments', {
            'metadata': {'name': 'istiod-1-27'}, 'spec': {
                'selector': {'matchLabels': {'app': 'istiod'}},
                'template': {'metadata': {'labels': {'app': 'istiod'}},
                             'spec': {'containers': [{'name': 'discovery', 'image': 'pilot:1.27'}]}}}})
        watch = requests.get(kube.url + '/api/v1/namespaces/default/configmaps', verify=kube.ca_path, timeout=20,
                             params={'watch': '1', 'fieldSelector': 'metadata.name=istio-ca-root-cert',
                                     'timeoutSeconds': '10'},
                             headers={'Authorization': 'Bearer ' + kube.token}, stream=True)
        published = json.loads(next(watch.iter_lines()))['object']
        watch.close()
        code, own_ca = client.call('GET', '/api/v1/namespaces/istio-system/secrets/istio-ca-secret')
        assert code == 200 and own_ca['type'] == 'istio.io/ca-root'
        assert published['metadata']['labels'] == {'istio.io/config': 'true'}
        assert published['data']['root-cert.pem'] == base64.b64decode(own_ca['data']['ca-cert.pem']).decode()
        verify = subprocess.run(['openssl', 'x509', '-noout', '-subject'], input=published['data']['root-cert.pem'],
                                capture_output=True, text=True, check=True)
        assert 'O = cluster.local' in verify.stdout


def test_unknown_fields_of_builtin_kinds_are_dropped_with_a_warning_unless_strict(tmp_path):
    with running_kube_api(tmp_path) as kube:
        body = {'metadata': {'name': 'settings'}, 'data': {'a': 'b'}, 'dta': {'typo': 'x'}}
        headers = {'Authorization': 'Bearer ' + kube.token}
        url = kube.url + '/api/v1/namespaces/default/configmaps'
        warned = requests.post(url, json=body, headers=headers, verify=kube.ca_path, timeout=10)
        assert warned.status_code == 201 and 'dta' not in warned.json()
        assert warned.headers['Warning'] == '299 - "unknown field \\"dta\\""'
        strict = requests.post(url, json=dict(body, metadata={'name': 'other'}), params={'fieldValidation': 'Strict'},
                               headers=headers, verify=kube.ca_path, timeout=10)
        assert strict.status_code == 400
        assert strict.json()['message'] == ('ConfigMap in version "v1" cannot be handled as a ConfigMap: '
                                            'strict decoding error: unknown field "dta"')


def test_apply_requires_a_field_manager_and_dry_run_stores_nothing(tmp_path):
    with running_kube_api(tmp_path) as kube:
        client = _Client(kube)
        path = '/api/v1/namespaces/default/configmaps/applied'
        applied = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'applied'}, 'data': {'a': 'b'}}
        code, status = client.call('PATCH', path, applied, 'application/apply-patch+yaml')
        assert code == 400 and status['message'] == 'fieldManager is required for apply requests'
        code, created = client.call('PATCH', path + '?fieldManager=lab&dryRun=All', applied, 'application/apply-patch+yaml')
        assert code == 201 and created['data'] == {'a': 'b'}
        assert client.call('GET', path)[0] == 404
