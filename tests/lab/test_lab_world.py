"""The assembled lab: a GKE cluster made through the API is a real control plane that the caller's Google token opens
once the cluster-admin binding is made, with its
LoadBalancer addresses on the VPC; an instance is a VM reachable over SSH; Istio's release downloads from its real URL;
stopping the lab leaves nothing behind."""

import json
import subprocess

import pytest
from google.auth.transport.requests import AuthorizedSession, Request
from google.oauth2 import service_account

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.istio_release import IstioRelease
from lab.net import netns
from lab.istio.release import RELEASE
from tests.lab.gcp_lab import COMPUTE, CONTAINER, instance, wait_done
from tests.support.kubectl import Kubectl
from vm_lab import running_world

pytestmark = pytest.mark.lab


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    """One lab for the file: each test makes resources of its own in it (a cluster, an instance, a download) and
    reads only those, so none needs a fresh lab."""
    with running_world(str(tmp_path_factory.mktemp('world') / 'lab'), isolated_controller=True,
                       time_scale=0.002) as started:
        yield started


def _session(lab):
    credentials = service_account.Credentials.from_service_account_file(
        lab.gcp.key_file, scopes=['https://www.googleapis.com/auth/cloud-platform'])
    return credentials, AuthorizedSession(credentials)


def _lab_env(lab, monkeypatch):
    for name, value in lab.gcp.env.items():
        monkeypatch.setenv(name, value)


def _kubeconfig(path, cluster, token):
    config = {
        'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'west',
        'clusters': [{'name': 'west', 'cluster': {'server': 'https://' + cluster['endpoint'],
                                                  'certificate-authority-data': cluster['masterAuth']['clusterCaCertificate']}}],
        'users': [{'name': 'me', 'user': {'token': token}}],
        'contexts': [{'name': 'west', 'context': {'cluster': 'west', 'user': 'me'}}],
    }
    path.write_text(json.dumps(config))
    return str(path)


def test_cluster_is_a_kubernetes_api_opened_by_the_google_token(world, tmp_path, monkeypatch):
    lab, names = world
    _lab_env(lab, monkeypatch)
    credentials, session = _session(lab)
    created = session.post(CONTAINER + 'locations/us-west2-a/clusters', json={'cluster': {
        'name': 'west', 'initialNodeCount': 1, 'ipAllocationPolicy': {'useIpAliases': True}}})
    assert created.status_code == 200, created.text
    # A real control plane starts inside the operation: allow for a busy machine.
    assert 'error' not in wait_done(session, created.json(), timeout=180)
    cluster = session.get(CONTAINER + 'locations/us-west2-a/clusters/west').json()
    assert (cluster['endpoint'], cluster['clusterIpv4Cidr']) == ('127.0.10.1', '10.4.0.0/14')

    credentials.refresh(Request())
    kubectl = Kubectl(_kubeconfig(tmp_path / 'kubeconfig', cluster, credentials.token), tmp_path)
    # The token is the account's (authenticated), but only the binding GKE's IAM lets it make opens the cluster.
    refused = kubectl.run('get', 'namespaces', '-o', 'name', check=False)
    assert refused.returncode != 0 and 'cannot list resource "namespaces"' in refused.stderr, refused.stderr
    binding = {'apiVersion': 'rbac.authorization.k8s.io/v1', 'kind': 'ClusterRoleBinding',
               'metadata': {'name': 'cluster-admin-binding'},
               'roleRef': {'apiGroup': 'rbac.authorization.k8s.io', 'kind': 'ClusterRole', 'name': 'cluster-admin'},
               'subjects': [{'apiGroup': 'rbac.authorization.k8s.io', 'kind': 'User',
                             'name': credentials.service_account_email}]}
    bound = kubectl.run('create', '-f', '-', stdin=json.dumps(binding), check=False)
    assert bound.returncode == 0, bound.stderr
    listed = kubectl.run('get', 'namespaces', '-o', 'name', check=False)
    assert listed.returncode == 0, listed.stderr
    assert 'namespace/default' in listed.stdout.split()

    forged = Kubectl(_kubeconfig(tmp_path / 'forged', cluster, 'ya29.forged'), tmp_path).run('get', 'namespaces',
                                                                                             check=False)
    assert forged.returncode != 0 and 'Unauthorized' in forged.stderr

    service = {'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': 'gateway', 'namespace': 'default'},
               'spec': {'type': 'LoadBalancer', 'selector': {'app': 'gateway'}, 'ports': [{'port': 15012}]}}
    assert kubectl.run('apply', '-f', '-', stdin=json.dumps(service), check=False).returncode == 0
    waited = kubectl.run('wait', 'service/gateway', '--for=jsonpath={.status.loadBalancer.ingress[0].ip}',
                         '--timeout=30s', check=False)
    assert waited.returncode == 0, waited.stderr
    address = kubectl.run('get', 'service', 'gateway', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}',
                          check=False).stdout
    held = subprocess.run(['ip', '-n', names.cluster_netns('west'), '-j', 'addr', 'show'], capture_output=True,
                          text=True, check=True).stdout
    assert address.startswith('10.168.8.') and '"%s"' % address in held


def test_instance_is_a_vm_reached_over_ssh_with_its_metadata_key(world, tmp_path, monkeypatch):
    lab, names = world
    _lab_env(lab, monkeypatch)
    _credentials, session = _session(lab)
    key = str(tmp_path / 'ops')
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', key], check=True)
    with open(key + '.pub', encoding='ascii') as handle:
        public = handle.read().strip()
    inserted = session.post(COMPUTE + 'zones/us-west2-a/instances',
                            json=instance(metadata={'items': [{'key': 'ssh-keys', 'value': 'ops:' + public}]}))
    assert inserted.status_code == 200, inserted.text
    assert 'error' not in wait_done(session, inserted.json(), timeout=120)
    address = session.get(COMPUTE + 'zones/us-west2-a/instances/istio-gce').json()['networkInterfaces'][0]['networkIP']

    ssh = ['ssh', '-F', '/dev/null', '-i', key, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
           '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=5', 'ops@' + address,
           'systemctl is-system-running']
    result = subprocess.run(netns.command(names.controller_netns, ssh), capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'running'


def test_istio_release_is_downloaded_from_its_real_url(world, tmp_path, monkeypatch):
    lab, _names = world
    _lab_env(lab, monkeypatch)
    istioctl = IstioRelease(RELEASE, cache_dir=str(tmp_path / 'cache')).istioctl()
    version = subprocess.run([istioctl, 'version', '--remote=false'], capture_output=True, text=True, timeout=60,
                             check=False)
    assert version.returncode == 0 and RELEASE in version.stdout, version.stderr
