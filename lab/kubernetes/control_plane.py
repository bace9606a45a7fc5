"""One cluster's real control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK.

Set up as GKE sets up its control plane, as far as the collection can see it:
- kube-apiserver serves on the cluster's endpoint with a certificate from the cluster CA (the CA that GKE returns
  as ``masterAuth.clusterCaCertificate``) and authorizes with ``Node,RBAC``;
- Google identities come through the webhook token authenticator (``token_webhook``: the GCP stand-in answers the
  TokenReview, as Google's does for GKE), and authorization is ``Node,RBAC,Webhook`` where the webhook is GKE's IAM
  authorizer (``authorization_webhook``, lab.gcp.gke_webhooks), so a Google account acts as far as RBAC or IAM let
  it;
- service-account tokens are signed by the API server, with GKE's issuer URL
  (``https://container.googleapis.com/v1/projects/P/locations/L/clusters/C``);
- kube-controller-manager runs with per-controller service-account credentials and allocates each node a /24 of the
  pod range (GKE's default), from which KWOK gives pods their addresses.

The lab's own access (this module's readiness checks, tests, the lab's LoadBalancer controller) uses a static token
of a user in ``system:masters``; it never appears in a kubeconfig that site.yml reads. The control-plane components
authenticate with tokens of their own built-in users (``system:kube-controller-manager``, ``system:kube-scheduler``)
and KWOK, which stands in for the nodes' kubelets, with a ``system:masters`` token.

Simplified on purpose: one etcd member with fsync off (a lab cluster is thrown away with its data), no kube-proxy,
no kubelet (KWOK marks pods Running and Ready; nothing runs in them), no cloud-controller-manager (the lab's
LoadBalancer controller does its one job), no aggregated APIs or konnectivity.
"""

import ipaddress
import json
import os
import secrets
import shutil
import socket
import ssl
import time
import urllib.error
import urllib.request

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import yaml

from lab.kubernetes import binaries, egress
from lab.kubernetes.processes import Program
from lab.pki import LabCA

ADMIN_USER = 'lab-admin'
_CONTROLLER_MANAGER_USER = 'system:kube-controller-manager'
_SCHEDULER_USER = 'system:kube-scheduler'
_KWOK_USER = 'lab-kwok'
# The label Istio's injector puts on every pod it gives a sidecar (security.istio.io/tlsMode: istio).
SIDECAR_LABEL = 'security.istio.io/tlsMode'
_NODE_CIDR_MASK = 24            # GKE gives each node a /24 of the pod range by default (110 pods a node)
_READY_TIMEOUT = 60


class ControlPlaneError(RuntimeError):
    """A component did not start; the message names it and ends with its last log lines."""


def gke_issuer(project, location, cluster):
    """The service-account token issuer GKE configures for a cluster."""
    return 'https://container.googleapis.com/v1/projects/%s/locations/%s/clusters/%s' % (project, location, cluster)


def _free_port(host):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _write(path, text, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, 'w', encoding='utf-8') as handle:
        handle.write(text)


def _open(request, context, timeout):
    """urlopen that never goes through a proxy from the environment: the lab's API is on loopback, and urllib does
    not understand the CIDRs in the lab's NO_PROXY."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    return opener.open(request, timeout=timeout)


def kubeconfig_text(server, ca_path, token, context='lab', token_file=None):
    """A kubeconfig with one context ``context`` that authenticates with a bearer token, or with the one in
    ``token_file`` (client-go reads it again as it changes) (JSON is valid YAML)."""
    user = {'tokenFile': token_file} if token_file else {'token': token}
    return json.dumps({
        'apiVersion': 'v1', 'kind': 'Config', 'current-context': context,
        'clusters': [{'name': context, 'cluster': {'server': server, 'certificate-authority': ca_path}}],
        'users': [{'name': context, 'user': user}],
        'contexts': [{'name': context, 'context': {'cluster': context, 'user': context}}],
    }, indent=2)


class ControlPlane:
    """A cluster's control plane on ``host:port`` (port 0: a free one), its files under ``state_dir``.

    ``nodes`` are ``(name, labels)`` of the nodes KWOK keeps Ready; ``token_webhook`` is ``(url, ca_path, server_name)`` of a TokenReview
    endpoint for identities the cluster does not issue itself (Google accounts), or None;
    ``authorization_webhook`` likewise a SubjectAccessReview endpoint asked after RBAC (GKE's IAM), or None;
    ``node_ip`` is the nodes' address; ``egress_connect(host, port)`` makes the API server's connections into the
    cluster (lab.kubernetes.egress).
    """

    def __init__(self, state_dir, *, prefix, host='127.0.0.1', port=0, cluster_cidr='10.4.0.0/14',
                 service_cidr='10.8.0.0/20', nodes=(('lab-node-1', {}),), issuer=None,
                 node_ip=None, token_webhook=None, authorization_webhook=None, egress_connect=egress.refuse_all, ca=None):
        self.state_dir = os.path.abspath(state_dir)
        self.prefix = prefix
        self.host = host
        self.port = port or _free_port(host)
        self.cluster_cidr = cluster_cidr
        self.service_cidr = service_cidr
        self.nodes = {name: dict(labels) for name, labels in nodes}
        self.node_names = tuple(self.nodes)
        self.issuer = issuer or 'https://kubernetes.default.svc.cluster.local'
        self.token_webhook = token_webhook
        self.authorization_webhook = authorization_webhook
        self.node_ip = node_ip or host
        self.egress_connect = egress_connect
        self._egress = None
        self.url = 'https://%s:%d' % (host, self.port)
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        self.pki_dir = os.path.join(self.state_dir, 'pki')
        self.ca = ca or LabCA(self.pki_dir, common_name='lab kubernetes cluster CA')
        self.ca_path = self.ca.cert_path
        self.logs_dir = os.path.join(self.state_dir, 'logs')
        os.makedirs(self.logs_dir, mode=0o700, exist_ok=True)
        self.tokens = self._tokens()
        self.token = self.tokens[ADMIN_USER]
        self.kubeconfig = os.path.join(self.state_dir, 'kubeconfig')
        _write(self.kubeconfig, kubeconfig_text(self.url, self.ca_path, self.token))
        self._programs = []

    # -- files ------------------------------------------------------------------------------------------------

    def _tokens(self):
        """Static tokens of the lab's own users, kept across restarts of the lab process."""
        path = os.path.join(self.pki_dir, 'static-tokens.json')
        if os.path.exists(path):
            with open(path, encoding='utf-8') as handle:
                return json.load(handle)
        tokens = {user: secrets.token_urlsafe(32)
                  for user in (ADMIN_USER, _CONTROLLER_MANAGER_USER, _SCHEDULER_USER, _KWOK_USER)}
        _write(path, json.dumps(tokens))
        return tokens

    def _token_file(self):
        groups = {ADMIN_USER: 'system:masters', _KWOK_USER: 'system:masters'}
        lines = []
        for user, token in self.tokens.items():
            group = groups.get(user)
            lines.append('%s,%s,%s%s' % (token, user, user, ',"%s"' % group if group else ''))
        path = os.path.join(self.pki_dir, 'token-auth.csv')
        _write(path, '\n'.join(lines) + '\n')
        return path

    def _service_account_keys(self):
        key_path = os.path.join(self.pki_dir, 'service-account-key.pem')
        if not os.path.exists(key_path):
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            _write(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()).decode())
        return key_path

    def _serving_cert(self):
        service_ip = str(next(ipaddress.ip_network(self.service_cidr).hosts()))
        return self.ca.issue_server_cert('apiserver', hostnames=[
            'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local',
            'localhost'], ips=sorted({self.host, '127.0.0.1', service_ip}))

    def _webhook_config(self, name, webhook):
        url, ca_path, server_name = webhook
        path = os.path.join(self.pki_dir, name + '.kubeconfig')
        _write(path, json.dumps({
            'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'webhook',
            'clusters': [{'name': 'google', 'cluster': {'server': url, 'certificate-authority': ca_path,
                                                        'tls-server-name': server_name}}],
            'users': [{'name': 'apiserver', 'user': {}}],
            'contexts': [{'name': 'webhook', 'context': {'cluster': 'google', 'user': 'apiserver'}}],
        }))
        return path

    def _component_kubeconfig(self, user):
        path = os.path.join(self.pki_dir, user.replace(':', '-') + '.kubeconfig')
        _write(path, kubeconfig_text(self.url, self.ca_path, self.tokens[user]))
        return path

    # -- processes --------------------------------------------------------------------------------------------

    def _start(self, name, argv):
        program = Program(name, argv, os.path.join(self.logs_dir, name + '.log'), self.prefix)
        self._programs.append(program)
        return program

    def _wait(self, program, what, check, timeout=_READY_TIMEOUT):
        """Poll ``check()`` with backoff until it is true; fail early, with the log, if the program exits."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            if not program.running():
                raise ControlPlaneError('%s exited (%s) before %s:\n%s' % (
                    program.name, program.process.returncode, what, program.log_tail()))
            if check():
                return
            if time.monotonic() >= deadline:
                raise ControlPlaneError('%s: %s not within %d s:\n%s' % (
                    program.name, what, timeout, program.log_tail()))
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def _get(self, url, token=None):
        context = ssl.create_default_context(cafile=self.ca_path) if url.startswith('https') else None
        request = urllib.request.Request(url, headers={'Authorization': 'Bearer ' + token} if token else {})
        try:
            with _open(request, context, 5) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except (OSError, ssl.SSLError):
            return None, b''

    def start(self):
        """Start every component; return once the API server is ready and every node is Ready."""
        try:
            self._start_etcd()
            self._start_apiserver()
            self._create_nodes()
            self._start_controllers()
            self.wait_nodes_ready()
        except BaseException:
            self.stop(remove=False)
            raise
        return self

    def _start_etcd(self):
        client = 'http://127.0.0.1:%d' % _free_port('127.0.0.1')
        peer = 'http://127.0.0.1:%d' % _free_port('127.0.0.1')
        self.etcd_url = client
        etcd = self._start('etcd', [
            binaries.path('etcd'), '--name', 'lab', '--data-dir', os.path.join(self.state_dir, 'etcd'),
            '--listen-client-urls', client, '--advertise-client-urls', client,
            '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', 'lab=' + peer,
            '--unsafe-no-fsync', '--log-level', 'warn'])
        self._wait(etcd, 'etcd healthy', lambda: self._get(client + '/health')[0] == 200)

    def _start_apiserver(self):
        cert, key = self._serving_cert()
        signing_key = self._service_account_keys()
        argv = [
            binaries.path('kube-apiserver'),
            '--etcd-servers', self.etcd_url,
            '--bind-address', self.host, '--advertise-address', self.host, '--secure-port', str(self.port),
            '--tls-cert-file', cert, '--tls-private-key-file', key, '--client-ca-file', self.ca_path,
            '--service-cluster-ip-range', self.service_cidr,
            '--service-account-issuer', self.issuer, '--service-account-key-file', signing_key,
            '--service-account-signing-key-file', signing_key,
            '--token-auth-file', self._token_file(),
            '--authorization-mode', 'Node,RBAC' + (',Webhook' if self.authorization_webhook else ''),
            '--allow-privileged=true', '--profiling=false', '--enable-priority-and-fairness=false',
            '--cert-dir', os.path.join(self.pki_dir, 'generated'), '--v', '1',
        ]
        if self.token_webhook:
            argv += ['--authentication-token-webhook-config-file',
                     self._webhook_config('token-webhook', self.token_webhook),
                     '--authentication-token-webhook-version', 'v1']
        if self.authorization_webhook:
            argv += ['--authorization-webhook-config-file',
                     self._webhook_config('authorization-webhook', self.authorization_webhook),
                     '--authorization-webhook-version', 'v1']
        self._egress = egress.EgressProxy(egress.socket_path(self.prefix, secrets.token_hex(4)),
                                          self.egress_connect).start()
        argv += ['--egress-selector-config-file',
                 self._egress.selector_config(os.path.join(self.pki_dir, 'egress-selector.json'))]
        apiserver = self._start('kube-apiserver', argv)
        self._wait(apiserver, 'the API server ready (/readyz)',
                   lambda: self._get(self.url + '/readyz', self.token)[0] == 200)

    def _start_controllers(self):
        self._start('kube-controller-manager', [
            binaries.path('kube-controller-manager'),
            '--kubeconfig', self._component_kubeconfig(_CONTROLLER_MANAGER_USER),
            '--use-service-account-credentials=true', '--service-account-private-key-file',
            self._service_account_keys(), '--root-ca-file', self.ca_path,
            '--allocate-node-cidrs=true', '--cluster-cidr', self.cluster_cidr,
            '--node-cidr-mask-size', str(_NODE_CIDR_MASK), '--service-cluster-ip-range', self.service_cidr,
            '--leader-elect=false', '--secure-port', '0', '--profiling=false', '--v', '1',
            # KWOK renews the nodes' leases; on a busy 2-core machine a renewal can come late, and a node marked
            # NotReady for that would have its pods evicted, which no GKE node does for being simulated.
            '--node-monitor-grace-period', '300s'])
        self._start('kube-scheduler', [
            binaries.path('kube-scheduler'), '--kubeconfig', self._component_kubeconfig(_SCHEDULER_USER),
            '--leader-elect=false', '--secure-port', '0', '--profiling=false', '--v', '1'])
        self._start('kwok', [
            binaries.path('kwok'), '--kubeconfig', self._component_kubeconfig(_KWOK_USER),
            '--config', self._kwok_stages(),
            '--manage-all-nodes=false', '--manage-nodes-with-annotation-selector', 'kwok.x-k8s.io/node=fake',
            '--cidr', self.cluster_cidr, '--node-ip', self.node_ip, '--node-lease-duration-seconds', '40',
            '--server-address', ''])

    def _kwok_stages(self):
        """KWOK's default stages, less one thing: ``pod-complete`` leaves alone the Job pods with Istio's sidecar,
        which the lab runs for real (lab.istio.mesh_pods) and whose end it reports from what ran."""
        with open(binaries.path('kwok-stages.yaml'), encoding='utf-8') as handle:
            stages = [stage for stage in yaml.safe_load_all(handle) if stage]
        for stage in stages:
            if stage['metadata']['name'] == 'pod-complete':
                stage['spec']['selector']['matchExpressions'].append({
                    'key': '.metadata.labels["%s"]' % SIDECAR_LABEL, 'operator': 'NotIn', 'values': ['istio']})
        path = os.path.join(self.state_dir, 'kwok-stages.yaml')
        _write(path, yaml.safe_dump_all(stages, sort_keys=False))
        return path

    # -- nodes ------------------------------------------------------------------------------------------------

    def api(self, method, path, body=None):
        """Call the API as the lab's admin; return (status, decoded JSON or None)."""
        context = ssl.create_default_context(cafile=self.ca_path)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={
            'Authorization': 'Bearer ' + self.token, 'Content-Type': 'application/json'})
        try:
            with _open(request, context, 10) as answer:
                return answer.status, json.loads(answer.read() or b'null')
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b'null')

    def _create_nodes(self):
        for name, labels in self.nodes.items():
            self._create_node(name, labels)

    def add_node(self, name, labels=None):
        """One more node (a node pool growing); returns once it is Ready."""
        self.nodes[name] = dict(labels or {})
        self.node_names = tuple(self.nodes)
        self._create_node(name, self.nodes[name])
        self.wait_nodes_ready()

    def _create_node(self, name, node_labels):
        """A node for KWOK to keep Ready (without KWOK's default NoSchedule taint: GKE's nodes take any pod)."""
        labels = dict(node_labels, **{'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux',
                                      'kubernetes.io/arch': 'amd64', 'type': 'kwok'})
        status, answer = self.api('POST', '/api/v1/nodes', {
            'apiVersion': 'v1', 'kind': 'Node',
            'metadata': {'name': name, 'labels': labels, 'annotations': {'kwok.x-k8s.io/node': 'fake'}}})
        if status not in (201, 409):
            raise ControlPlaneError('node %s not created: %s %s' % (name, status, answer))

    def nodes_ready(self):
        status, answer = self.api('GET', '/api/v1/nodes')
        if status != 200:
            return set()
        ready = set()
        for node in answer.get('items', []):
            conditions = (node.get('status') or {}).get('conditions') or []
            if any(c.get('type') == 'Ready' and c.get('status') == 'True' for c in conditions):
                ready.add(node['metadata']['name'])
        return ready

    def wait_nodes_ready(self, timeout=_READY_TIMEOUT):
        if not self.node_names:
            return
        kwok = next(program for program in self._programs if program.name == 'kwok')
        self._wait(kwok, 'nodes %s Ready' % ', '.join(self.node_names),
                   lambda: set(self.node_names) <= self.nodes_ready(), timeout)

    # -- stop -------------------------------------------------------------------------------------------------

    def stop(self, remove=True):
        """Stop every component (the API server's clients first, etcd last); with ``remove``, delete the state."""
        for program in reversed(self._programs):
            program.stop()
        self._programs = []
        if self._egress is not None:
            self._egress.stop()
            self._egress = None
        if remove:
            shutil.rmtree(self.state_dir, ignore_errors=True)
