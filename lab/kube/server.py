"""The Kubernetes API stand-in assembled: HTTPS with the cluster's CA, bearer-token authentication, the object
store, service account tokens and the controllers. One per GKE cluster of the lab.

State lives in memory; ``objects.json`` in the state directory keeps it across a restart of the lab daemon.
"""

import http.server
import json
import os
import secrets
import signal
import socketserver
import ssl
import sys
import threading

from lab.kube import auth, crd, resources, storage as storage_module
from lab.kube.controllers import Controllers
from lab.kube.handler import ApiHandler
from lab.kube.objects import ObjectApi, WriteOptions
from lab.kube.tokens import TokenIssuer
from lab.kube.validation import KUBERNETES_MINOR
from lab.pki import LabCA

_SYSTEM_NAMESPACES = ('default', 'kube-system', 'kube-public', 'kube-node-lease')


class _ThreadingHTTPSServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    # Many clients (kubectl, ansible) open connections in quick succession.
    request_queue_size = 64


def _write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w', encoding='utf-8') as handle:
        handle.write(text)


class KubeApiServer:
    """A Kubernetes API server on ``host:port`` (port 0: any free one) with its state in ``state_dir``.

    Bearer tokens accepted (see auth.py): the admin token in ``<state_dir>/admin-token``, service account tokens
    this server issued, and whatever one of ``extra_authenticators`` (callables: token -> user or None) accepts.
    """

    def __init__(self, state_dir, host='127.0.0.1', port=0, deployment_ready_seconds=0.2, lb_range='10.168.8.0/24',
                 service_cidr='10.8.0.0/20', issuer=None, extra_authenticators=(), log=None):
        self.state_dir = state_dir
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        self._log_handle = log
        self.ca = LabCA(os.path.join(state_dir, 'pki'), common_name='lab kubernetes cluster CA')
        self.ca_path = self.ca.cert_path
        cert, key = self.ca.issue_server_cert('apiserver', hostnames=[
            'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local',
            'localhost'], ips=sorted({host, '127.0.0.1'}))
        self.token = self._admin_token()
        self.registry = resources.Registry()
        self.storage = storage_module.Storage()
        self.objects = ObjectApi(self.registry, self.storage, service_cidr)
        self._httpd = _ThreadingHTTPSServer((host, port), ApiHandler)
        self._httpd.api = self
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.host, self.port = host, self._httpd.server_address[1]
        self.url = 'https://%s:%d' % (host, self.port)
        self.issuer = TokenIssuer(state_dir, issuer or 'https://kubernetes.default.svc.cluster.local')
        self.audiences = [self.issuer.issuer]
        self.authenticator = auth.AnyOf(
            auth.StaticTokenAuthenticator(self.token),
            auth.ServiceAccountAuthenticator(self.issuer, self.audiences, self._service_account_uid),
            *extra_authenticators)
        self.controllers = Controllers(self.objects, self.ca.cert_pem.decode(), lb_range, deployment_ready_seconds,
                                       log=self.log)
        self._thread = None
        self.kubeconfig = os.path.join(state_dir, 'kubeconfig')
        _write_private(self.kubeconfig, self.kubeconfig_text())

    def _service_account_uid(self, namespace, name):
        account = self.objects.find(self.registry.by_key('', 'serviceaccounts'), namespace, name)
        return account['metadata']['uid'] if account else None

    def _admin_token(self):
        path = os.path.join(self.state_dir, 'admin-token')
        if not os.path.exists(path):
            _write_private(path, secrets.token_urlsafe(32))
        with open(path, encoding='utf-8') as handle:
            return handle.read().strip()

    def log(self, message):
        if self._log_handle is not None:
            print(message, file=self._log_handle, flush=True)

    @property
    def version_info(self):
        return lambda: {'major': '1', 'minor': str(KUBERNETES_MINOR), 'gitVersion': 'v1.%d.5-gke.lab' % KUBERNETES_MINOR,
                        'gitCommit': '0' * 40, 'gitTreeState': 'clean', 'buildDate': '2026-01-01T00:00:00Z',
                        'goVersion': 'go1.24.0', 'compiler': 'gc', 'platform': 'linux/amd64'}

    def kubeconfig_text(self, context='lab'):
        return json.dumps({
            'apiVersion': 'v1', 'kind': 'Config', 'current-context': context, 'preferences': {},
            'clusters': [{'name': context, 'cluster': {'server': self.url, 'certificate-authority': self.ca_path}}],
            'users': [{'name': context + '-admin', 'user': {'token': self.token}}],
            'contexts': [{'name': context, 'context': {'cluster': context, 'user': context + '-admin'}}],
        }, indent=1)

    # Lifecycle.

    def start(self):
        self.controllers.start()
        self._restore()
        self.controllers.resync()
        self._bootstrap()
        self._thread = threading.Thread(target=self._httpd.serve_forever, name='kube-api', daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._httpd.shutdown()
        self.storage.close()
        self.controllers.stop()
        self._httpd.server_close()
        self.save()

    def _bootstrap(self):
        """What a new cluster has: the system namespaces, the ``kubernetes`` Service, ClusterRole cluster-admin."""
        options = WriteOptions('kube-apiserver')
        namespaces = self.registry.by_key('', 'namespaces')
        for name in _SYSTEM_NAMESPACES:
            if self.objects.find(namespaces, None, name) is None:
                self.objects.create(namespaces, 'v1', None, {'metadata': {'name': name}}, options)
        services = self.registry.by_key('', 'services')
        if self.objects.find(services, 'default', 'kubernetes') is None:
            self.objects.create(services, 'v1', 'default', {
                'metadata': {'name': 'kubernetes', 'namespace': 'default',
                             'labels': {'component': 'apiserver', 'provider': 'kubernetes'}},
                'spec': {'ports': [{'name': 'https', 'port': 443, 'targetPort': 443, 'protocol': 'TCP'}]}}, options)
        roles = self.registry.by_key('rbac.authorization.k8s.io', 'clusterroles')
        if self.objects.find(roles, None, 'cluster-admin') is None:
            self.objects.create(roles, 'v1', None, {
                'metadata': {'name': 'cluster-admin', 'labels': {'kubernetes.io/bootstrapping': 'rbac-defaults'}},
                'rules': [{'apiGroups': ['*'], 'resources': ['*'], 'verbs': ['*']},
                          {'nonResourceURLs': ['*'], 'verbs': ['*']}]}, options)

    # Persistence across restarts of the lab daemon.

    @property
    def _snapshot_path(self):
        return os.path.join(self.state_dir, 'objects.json')

    def save(self):
        snapshot = self.storage.snapshot()
        _write_private(self._snapshot_path + '.tmp', json.dumps(snapshot))
        os.replace(self._snapshot_path + '.tmp', self._snapshot_path)

    def _restore(self):
        if not os.path.exists(self._snapshot_path):
            return
        with open(self._snapshot_path, encoding='utf-8') as handle:
            snapshot = json.load(handle)
        crds = [obj for obj in snapshot['objects'] if obj.get('kind') == 'CustomResourceDefinition']
        for crd_object in crds:
            self.registry.add(crd.resource_type(crd_object))

        def key_of(obj):
            rtype = self.registry.by_kind(obj.get('apiVersion', ''), obj.get('kind', ''))
            return rtype.key if rtype else None

        self.storage.restore(key_of, snapshot)


def serve_forever(server):
    """Run until interrupted (the lab daemon's ``python -m lab.kube serve``)."""
    server.start()
    print('kube-apiserver listening on %s (kubeconfig %s)' % (server.url, server.kubeconfig), file=sys.stderr, flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    try:
        stopped.wait()
    finally:
        server.stop()
