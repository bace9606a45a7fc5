"""The lab's real control plane (lab.kubernetes): what it must do for the collection to be tested against it, and
that the real API server holds the collection to what GKE's does (authentication, RBAC, schema validation)."""

import base64
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from lab.gcp.auth import TokenAuthority
from lab.gcp.gke_webhooks import AUTHORIZE_PATH, TOKEN_REVIEW_PATH, GkeWebhooks
from lab.kubernetes import binaries, egress, processes
from lab.kubernetes.control_plane import ControlPlaneError
from lab.kubernetes.testing import running_control_plane, session_prefix
from lab.net.commands import wait_for
from lab.pki import LabCA
from plugins.module_utils import kube as kube_utils
from tests.support.kubectl import Kubectl

POD_RANGE = '10.52.0.0/14'
LB_RANGE = '10.168.8.32/27'


@pytest.fixture(scope='module')
def google(tmp_path_factory):
    """GKE's Google side: the token and IAM webhooks, with one lab service account and a live access token."""
    directory = tmp_path_factory.mktemp('google')
    authority = TokenAuthority()
    account = authority.create_key_file(str(directory / 'sa.json'), 'meshbridge-lab')
    webhooks = GkeWebhooks(LabCA(str(directory / 'pki')), authority).start()
    yield webhooks, account, _access_token(authority, str(directory / 'sa.json'))
    webhooks.stop()


def _access_token(authority, key_file):
    """An access token from the lab's OAuth2 token endpoint, by the JWT-bearer grant google-auth makes."""
    with open(key_file, encoding='utf-8') as handle:
        key = json.load(handle)
    now = int(time.time())
    header = {'alg': 'RS256', 'typ': 'JWT', 'kid': key['private_key_id']}
    claims = {'iss': key['client_email'], 'aud': key['token_uri'], 'iat': now, 'exp': now + 600,
              'scope': 'https://www.googleapis.com/auth/cloud-platform'}
    signing_input = '.'.join(base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b'=').decode()
                             for part in (header, claims))
    private_key = serialization.load_pem_private_key(key['private_key'].encode(), None)
    signature = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    assertion = signing_input + '.' + base64.urlsafe_b64encode(signature).rstrip(b'=').decode()
    return authority.exchange({'grant_type': 'urn:ietf:params:oauth:grant-type:jwt-bearer',
                               'assertion': assertion})['access_token']


@pytest.fixture(scope='module')
def cluster(tmp_path_factory, google):
    webhooks, _account, _token = google
    with running_control_plane(tmp_path_factory.mktemp('cluster'), cluster_cidr=POD_RANGE,
                               nodes=(('node-a', {}), ('node-b', {})), lb_range=LB_RANGE,
                               token_webhook=webhooks.webhook(TOKEN_REVIEW_PATH),
                               authorization_webhook=webhooks.webhook(AUTHORIZE_PATH)) as plane:
        yield plane


@pytest.fixture
def kubectl(cluster, tmp_path):
    return Kubectl(cluster.kubeconfig, tmp_path)


def _as(cluster, token, method, path, body=None):
    """Call the API with another bearer token; return (status, JSON)."""
    saved = cluster.token
    cluster.token = token
    try:
        return cluster.api(method, path, body)
    finally:
        cluster.token = saved


def test_the_built_release_answers(cluster):
    status, version = cluster.api('GET', '/version')
    assert status == 200
    assert version['gitVersion'] == 'v1.36.3' and version['minor'] == '36'
    kubectl = subprocess.run([binaries.path('kubectl'), 'version', '--client', '-o', 'json'], capture_output=True,
                             text=True, check=True)
    assert json.loads(kubectl.stdout)['clientVersion']['gitVersion'] == 'v1.36.3'


def test_deployments_roll_out_on_the_nodes_with_pod_range_addresses(kubectl):
    kubectl.run('create', 'namespace', 'rollout')
    kubectl.run('-n', 'rollout', 'create', 'deployment', 'web', '--image=registry.example/web:1', '--replicas=3',
                '--port=8080')
    kubectl.run('-n', 'rollout', 'expose', 'deployment', 'web', '--port=80', '--target-port=8080')
    kubectl.run('-n', 'rollout', 'rollout', 'status', 'deployment/web', '--timeout=60s')
    pods = kubectl.json('get', 'pods', '-n', 'rollout')['items']
    assert len(pods) == 3
    assert {pod['spec']['nodeName'] for pod in pods} <= {'node-a', 'node-b'}
    addresses = {pod['status']['podIP'] for pod in pods}
    assert all(address.startswith('10.5') for address in addresses), addresses
    assert all(any(c['type'] == 'Ready' and c['status'] == 'True' for c in pod['status']['conditions'])
               for pod in pods)

    def endpoints():
        slices = kubectl.json('get', 'endpointslices.discovery.k8s.io', '-n', 'rollout')['items']
        return {address for piece in slices for endpoint in piece.get('endpoints') or []
                for address in endpoint['addresses']} == addresses
    wait_for(endpoints, timeout=30, what='EndpointSlices listing the three pods')


def test_nodes_get_a_slice_of_the_pod_range_and_no_taint(kubectl):
    def tainted():
        # The node lifecycle controller's transient not-ready taint goes once KWOK reports the node Ready.
        return {node['metadata']['name']: node['spec'].get('taints') for node in kubectl.json('get', 'nodes')['items']
                if node['spec'].get('taints')}
    wait_for(lambda: not tainted(), timeout=30, what='nodes without taints')
    nodes = kubectl.json('get', 'nodes')['items']
    assert sorted(node['metadata']['name'] for node in nodes) == ['node-a', 'node-b']
    for node in nodes:
        assert node['spec']['podCIDR'].startswith('10.5') and node['spec']['podCIDR'].endswith('/24')


def test_every_namespace_gets_the_cluster_root_ca(kubectl, cluster):
    kubectl.run('create', 'namespace', 'fresh')
    kubectl.wait_for('configmap', 'kube-root-ca.crt', 'fresh')
    published = kubectl.get('configmap', 'kube-root-ca.crt', 'fresh')['data']['ca.crt']
    with open(cluster.ca_path, encoding='utf-8') as handle:
        assert published.strip() == handle.read().strip()


def test_load_balancer_services_get_an_address_from_the_range_and_give_it_back(kubectl):
    kubectl.run('create', 'namespace', 'lb')
    kubectl.run('-n', 'lb', 'create', 'service', 'loadbalancer', 'gateway', '--tcp=15012:15012')

    def address():
        ingress = kubectl.get('service', 'gateway', 'lb')['status'].get('loadBalancer', {}).get('ingress') or []
        return ingress[0]['ip'] if ingress else None
    first = wait_for(address, timeout=30, what='an address for Service lb/gateway')
    assert first.startswith('10.168.8.') and 32 < int(first.rsplit('.', 1)[1]) < 64
    kubectl.run('-n', 'lb', 'delete', 'service', 'gateway')
    kubectl.run('-n', 'lb', 'create', 'service', 'loadbalancer', 'gateway', '--tcp=15012:15012')
    assert wait_for(address, timeout=30, what='an address for the new Service lb/gateway') == first


def test_a_google_account_is_authenticated_and_needs_the_binding_rbac_gives(cluster, google, kubectl):
    _webhooks, account, token = google
    status, review = cluster.api('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
        'apiVersion': 'authentication.k8s.io/v1', 'kind': 'TokenReview', 'spec': {'token': token}})
    assert status == 201 and review['status']['user']['username'] == account
    # Authenticated, but neither RBAC nor the account's IAM grant lets it read namespaces: 403, not 401.
    status, answer = _as(cluster, token, 'GET', '/api/v1/namespaces')
    assert status == 403, answer
    assert 'User "%s" cannot list resource "namespaces"' % account in answer['message']
    # IAM lets it bind cluster-admin to itself, as GKE's IAM lets a container admin do ...
    binding = {'apiVersion': 'rbac.authorization.k8s.io/v1', 'kind': 'ClusterRoleBinding',
               'metadata': {'name': 'test-admin-binding'},
               'roleRef': {'apiGroup': 'rbac.authorization.k8s.io', 'kind': 'ClusterRole', 'name': 'cluster-admin'},
               'subjects': [{'apiGroup': 'rbac.authorization.k8s.io', 'kind': 'User', 'name': account}]}
    status, answer = _as(cluster, token, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', binding)
    assert status == 201, answer
    # ... and from then on RBAC lets it act.
    wait_for(lambda: _as(cluster, token, 'GET', '/api/v1/namespaces')[0] == 200, timeout=30,
             what='the bound account listing namespaces')
    kubectl.run('delete', 'clusterrolebinding', 'test-admin-binding')
    wait_for(lambda: _as(cluster, token, 'GET', '/api/v1/namespaces')[0] == 403, timeout=30,
             what='the account refused again once the binding is gone')


def test_an_unknown_token_is_unauthorized(cluster):
    status, answer = _as(cluster, 'ya29.not-issued', 'GET', '/api/v1/namespaces')
    assert status == 401 and answer['reason'] == 'Unauthorized'


def test_server_side_apply_refuses_an_unknown_field_and_the_collection_says_which(cluster, tmp_path):
    client = kube_utils.connect({'kubeconfig': cluster.kubeconfig, 'context': 'lab'}, str(tmp_path))
    service = {'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': 'typo', 'namespace': 'default'},
               'spec': {'selector': {'app': 'typo'}, 'ports': [{'port': 80, 'targtPort': 8080}]}}
    with pytest.raises(kube_utils.KubeError) as refused:
        client.apply(service)
    assert 'targtPort' in str(refused.value) and 'Service default/typo' in str(refused.value)
    assert client.get('v1', 'Service', 'typo', 'default') is None


def test_a_webhook_call_into_the_cluster_never_leaves_this_machine(kubectl, cluster):
    """A failing-closed admission webhook behind a Service: the API server dials it through the lab's egress,
    which has no network to reach, so the request is refused at once instead of routed off the host."""
    webhook = {'apiVersion': 'admissionregistration.k8s.io/v1', 'kind': 'ValidatingWebhookConfiguration',
               'metadata': {'name': 'closed'},
               'webhooks': [{'name': 'closed.lab.example', 'admissionReviewVersions': ['v1'], 'sideEffects': 'None',
                             'failurePolicy': 'Fail', 'timeoutSeconds': 5,
                             'clientConfig': {'service': {'name': 'nowhere', 'namespace': 'default'}},
                             'rules': [{'operations': ['CREATE'], 'apiGroups': [''], 'apiVersions': ['v1'],
                                        'resources': ['configmaps']}],
                             'namespaceSelector': {'matchLabels': {'webhook': 'closed'}}}]}
    kubectl.run('apply', '-f', '-', stdin=json.dumps(webhook))
    kubectl.run('create', 'namespace', 'guarded')
    kubectl.run('label', 'namespace', 'guarded', 'webhook=closed')
    refused = kubectl.run('-n', 'guarded', 'create', 'configmap', 'c', check=False)
    assert refused.returncode != 0
    assert 'failed calling webhook "closed.lab.example"' in refused.stderr
    kubectl.run('delete', 'validatingwebhookconfiguration', 'closed')


def test_cleanup_finds_a_crashed_labs_programs(tmp_path):
    """A process that started a control plane and died leaves programs that stop_marked(prefix) stops."""
    prefix = session_prefix() + 'crash-'
    script = ('import sys, time\n'
              'from lab.kubernetes.control_plane import ControlPlane\n'
              'ControlPlane(sys.argv[1], prefix=sys.argv[2], nodes=()).start()\n'
              'print("up", flush=True)\n'
              'time.sleep(600)\n')
    starter = subprocess.Popen([sys.executable, '-c', script, str(tmp_path / 'plane'), prefix],
                               stdout=subprocess.PIPE, text=True, cwd=os.getcwd(), start_new_session=True)
    try:
        assert starter.stdout.readline().strip() == 'up'
        os.kill(starter.pid, signal.SIGKILL)
        starter.wait(10)
        assert len(processes.marked(prefix)) >= 5       # etcd, apiserver, controller-manager, scheduler, kwok
        assert processes.stop_marked(prefix) >= 5
        assert processes.marked(prefix) == []
        assert glob.glob('/tmp/%s*-egress.sock' % prefix)      # the dead process's socket, found by its prefix
        egress.remove_sockets(prefix)
        assert not glob.glob('/tmp/%s*-egress.sock' % prefix)
    finally:
        processes.stop_marked(prefix)
        egress.remove_sockets(prefix)


def test_a_component_that_cannot_start_is_named_with_its_log(tmp_path):
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        with pytest.raises(ControlPlaneError) as failed:
            with running_control_plane(tmp_path / 'bad', port=taken.getsockname()[1], nodes=()):
                pass
    assert 'kube-apiserver exited' in str(failed.value) and 'address already in use' in str(failed.value)


def test_add_node_lets_pending_pods_run(tmp_path):
    with running_control_plane(tmp_path / 'empty', nodes=()) as plane:
        kubectl = Kubectl(plane.kubeconfig, tmp_path)
        kubectl.run('create', 'deployment', 'late', '--image=registry.example/late:1')
        wait_for(lambda: [p for p in kubectl.json('get', 'pods')['items'] if p['status'].get('phase') == 'Pending'],
                 timeout=30, what='a Pending pod')
        threading.Timer(0.5, plane.add_node, args=('node-late',)).start()
        kubectl.run('rollout', 'status', 'deployment/late', '--timeout=60s')
