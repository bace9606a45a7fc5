"""module_utils/kube.py: connection options, and what the helpers send over the wire.

A small loopback HTTP server plays just enough of an API server (discovery, one ConfigMap resource) to record
the requests; the integration tests use the lab's real control plane (lab.kubernetes).
"""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import kube

CONFIGMAPS = {
    'name': 'configmaps', 'singularName': 'configmap', 'namespaced': True, 'kind': 'ConfigMap',
    'verbs': ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
}


class _RecordingApi(BaseHTTPRequestHandler):
    """Discovery for core/v1 ConfigMaps; objects in ``server.objects``; every request in ``server.requests``."""

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self, name):
        self._send(404, {'kind': 'Status', 'apiVersion': 'v1', 'status': 'Failure', 'reason': 'NotFound', 'code': 404,
                         'message': 'configmaps "%s" not found' % name})

    def _record(self):
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length) if length else b''
        url = urlparse(self.path)
        self.server.requests.append({'method': self.command, 'path': url.path, 'query': parse_qs(url.query),
                                     'content_type': self.headers.get('Content-Type'),
                                     'authorization': self.headers.get('Authorization'), 'body': body})
        return url.path, body

    def do_GET(self):  # noqa: N802 (http.server's naming)
        path = self._record()[0]
        discovery = {
            '/version': {'major': '1', 'minor': '30', 'gitVersion': 'v1.30.0'},
            '/api': {'kind': 'APIVersions', 'versions': ['v1']},
            '/apis': {'kind': 'APIGroupList', 'apiVersion': 'v1', 'groups': [
                {'name': group, 'versions': [{'groupVersion': group + '/v1', 'version': 'v1'}],
                 'preferredVersion': {'groupVersion': group + '/v1', 'version': 'v1'}} for group in self.server.groups]},
            '/api/v1': {'kind': 'APIResourceList', 'groupVersion': 'v1', 'resources': [CONFIGMAPS]},
        }
        if path in discovery:
            self._send(200, discovery[path])
        elif path.count('/') == 3 and path.startswith('/apis/') and path.split('/')[2] in self.server.groups:
            self._send(200, {'kind': 'APIResourceList', 'groupVersion': path[len('/apis/'):], 'resources': [
                {'name': 'things', 'singularName': 'thing', 'namespaced': True, 'kind': 'Thing', 'verbs': ['get']}]})
        elif path in self.server.objects:
            self._send(200, self.server.objects[path])
        else:
            self._not_found(path.rsplit('/', 1)[-1])

    def do_PATCH(self):  # noqa: N802
        path, body = self._record()
        obj = yaml.safe_load(body)
        if obj['data'].get('invalid'):
            self._send(422, {'kind': 'Status', 'apiVersion': 'v1', 'status': 'Failure', 'reason': 'Invalid',
                             'code': 422, 'message': 'ConfigMap "x" is invalid: data.invalid: Invalid value'})
            return
        self.server.objects[path] = obj
        self._send(200, obj)

    def do_DELETE(self):  # noqa: N802
        path = self._record()[0]
        if self.server.objects.pop(path, None) is None:
            self._not_found(path.rsplit('/', 1)[-1])
        else:
            self._send(200, {'kind': 'Status', 'apiVersion': 'v1', 'status': 'Success'})


@pytest.fixture
def api():
    server = ThreadingHTTPServer(('127.0.0.1', 0), _RecordingApi)
    server.objects, server.requests, server.groups = {}, [], []
    # a short poll interval, so shutdown() at teardown returns at once rather than after the default 0.5 s
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    server.url = 'http://127.0.0.1:%d' % server.server_address[1]
    yield server
    server.shutdown()
    server.server_close()


def _client(api, tmp_path):
    return kube.connect({'host': api.url, 'api_key': 'secret-token'}, discovery_cache_dir=str(tmp_path))


CONFIGMAP = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'istio', 'namespace': 'istio-system'},
             'data': {'mesh': 'trustDomain: cluster.local'}}
CONFIGMAP_PATH = '/api/v1/namespaces/istio-system/configmaps/istio'


def test_apply_is_server_side_apply_as_meshbridge_and_get_reads_back(api, tmp_path):
    client = _client(api, tmp_path)
    assert client.get('v1', 'ConfigMap', 'istio', 'istio-system') is None

    applied = client.apply(CONFIGMAP)

    assert applied['data'] == CONFIGMAP['data']
    patch = [r for r in api.requests if r['method'] == 'PATCH'][-1]
    assert patch['path'] == CONFIGMAP_PATH
    assert patch['content_type'] == 'application/apply-patch+yaml'
    assert patch['query']['fieldManager'] == ['meshbridge']
    assert patch['query']['force'] == ['true']
    assert patch['authorization'] == 'Bearer secret-token'
    assert client.get('v1', 'ConfigMap', 'istio', 'istio-system')['data'] == CONFIGMAP['data']


def test_a_kind_is_looked_up_in_its_own_api_group_only(api, tmp_path):
    # A cluster with Istio serves some 40 API groups; a module's first look-up must not read each of them.
    api.groups = ['group%d.example.io' % index for index in range(20)]
    client = _client(api, tmp_path)
    assert client.get('v1', 'ConfigMap', 'istio', 'istio-system') is None
    assert [r['path'] for r in api.requests if r['path'].startswith('/apis/')] == []
    assert client.serves('group7.example.io/v1', 'Thing') is True
    assert [r['path'] for r in api.requests if r['path'].startswith('/apis/')] == ['/apis/group7.example.io/v1']


def test_refused_apply_names_the_object_and_quotes_the_server(api, tmp_path):
    client = _client(api, tmp_path)
    bad = dict(CONFIGMAP, data={'invalid': 'yes'})
    with pytest.raises(kube.KubeError) as raised:
        client.apply(bad)
    message = str(raised.value)
    assert 'cannot apply ConfigMap istio-system/istio (v1)' in message
    assert 'data.invalid: Invalid value' in message
    assert raised.value.status == 422


def test_delete_reports_whether_it_existed(api, tmp_path):
    client = _client(api, tmp_path)
    client.apply(CONFIGMAP)
    assert client.delete('v1', 'ConfigMap', 'istio', 'istio-system') is True
    assert client.delete('v1', 'ConfigMap', 'istio', 'istio-system') is False


def test_kind_the_cluster_does_not_serve(api, tmp_path):
    client = _client(api, tmp_path)
    assert client.get('networking.istio.io/v1', 'Gateway', 'istiod-gateway', 'istio-system') is None
    assert client.list('networking.istio.io/v1', 'Gateway') == []
    with pytest.raises(kube.KubeError, match='does not serve networking.istio.io/v1 Gateway; is the CRD'):
        client.apply({'apiVersion': 'networking.istio.io/v1', 'kind': 'Gateway',
                      'metadata': {'name': 'g', 'namespace': 'istio-system'}})


def test_discovery_cache_stays_in_the_given_directory(api, tmp_path):
    _client(api, tmp_path)
    assert (tmp_path / 'kube-discovery.json').exists()


def test_unreachable_api_server_is_named(tmp_path):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    with pytest.raises(kube.KubeError, match=r'cannot reach the Kubernetes API at http://127.0.0.1:%d' % port):
        kube.connect({'host': 'http://127.0.0.1:%d' % port}, discovery_cache_dir=str(tmp_path))


def _write_kubeconfig(path, server='https://127.0.10.1'):
    ca_path = path.parent / 'lab-ca.pem'
    ca_path.write_text('not read until a connection is made\n')
    path.write_text(yaml.safe_dump({
        'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'other',
        'clusters': [{'name': 'lab', 'cluster': {'server': server, 'certificate-authority': str(ca_path)}},
                     {'name': 'other', 'cluster': {'server': 'https://192.0.2.1'}}],
        'users': [{'name': 'admin', 'user': {'token': 'kubeconfig-token'}}],
        'contexts': [{'name': 'lab', 'context': {'cluster': 'lab', 'user': 'admin'}},
                     {'name': 'other', 'context': {'cluster': 'other', 'user': 'admin'}}],
    }))


def test_kubeconfig_context_is_used_and_options_override_it(tmp_path):
    path = tmp_path / 'kubeconfig'
    _write_kubeconfig(path)

    from_context = kube.build_configuration({'kubeconfig': str(path), 'context': 'lab'})
    assert from_context.host == 'https://127.0.10.1'
    assert from_context.ssl_ca_cert == str(tmp_path / 'lab-ca.pem')
    assert from_context.api_key['BearerToken'] == 'Bearer kubeconfig-token'

    overridden = kube.build_configuration({'kubeconfig': str(path), 'context': 'lab', 'api_key': 'given',
                                           'ca_cert': '/tmp/other-ca.pem', 'validate_certs': False})
    assert overridden.api_key['BearerToken'] == 'Bearer given'
    assert overridden.ssl_ca_cert == '/tmp/other-ca.pem'
    assert overridden.verify_ssl is False


def test_host_alone_reads_no_kubeconfig(tmp_path, monkeypatch):
    monkeypatch.setenv('KUBECONFIG', str(tmp_path / 'absent'))
    configuration = kube.build_configuration({'host': 'https://127.0.10.2/', 'api_key': 't', 'ca_cert': '/tmp/ca.pem'})
    assert configuration.host == 'https://127.0.10.2'
    assert configuration.api_key['BearerToken'] == 'Bearer t'


@pytest.mark.parametrize('params, fix', [
    ({'kubeconfig': '/nonexistent/kubeconfig'}, 'does not exist: point kubeconfig at an existing file'),
    ({'context': 'missing'}, 'context missing'),
    ({'host': 'https://127.0.10.2', 'context': 'lab'}, 'needs a kubeconfig'),
])
def test_bad_connection_options_name_the_fix(tmp_path, monkeypatch, params, fix):
    path = tmp_path / 'kubeconfig'
    _write_kubeconfig(path)
    monkeypatch.setenv('KUBECONFIG', str(path))
    with pytest.raises(kube.KubeError, match=fix):
        kube.build_configuration(params)


def _gone_client(api, tmp_path):
    """A client connected through a kubeconfig context, whose API server then goes away."""
    path = tmp_path / 'kubeconfig'
    _write_kubeconfig(path, server=api.url)
    client = kube.connect({'kubeconfig': str(path), 'context': 'lab'}, discovery_cache_dir=str(tmp_path))
    api.shutdown()
    api.server_close()
    return client, path


@pytest.mark.parametrize('operation, doing', [
    (lambda client: client.get('v1', 'ConfigMap', 'istio', 'istio-system'), 'read ConfigMap istio-system/istio (v1)'),
    (lambda client: client.list('v1', 'ConfigMap', 'istio-system'), 'list ConfigMap istio-system/* (v1)'),
    (lambda client: client.apply(CONFIGMAP), 'apply ConfigMap istio-system/istio (v1)'),
    (lambda client: client.delete('v1', 'ConfigMap', 'istio', 'istio-system'), 'delete ConfigMap istio-system/istio (v1)'),
    (lambda client: client.request_token('default', 'vm', {'spec': {}}),
     'request a token for ServiceAccount default/vm'),
])
def test_an_api_server_that_stops_answering_is_named_with_the_kubeconfig_and_context(api, tmp_path, operation, doing):
    client, path = _gone_client(api, tmp_path)
    with pytest.raises(kube.KubeError) as raised:
        operation(client)
    message = str(raised.value)
    assert 'cannot %s: the Kubernetes API at %s (kubeconfig %s, context lab) does not answer' % (doing, api.url, path) \
        in message, message
    assert 'Connection refused' in message
