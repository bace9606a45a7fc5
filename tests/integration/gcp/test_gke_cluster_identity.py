"""The gke_cluster role's cluster-admin binding against a real API server behind the GCP stand-in: GKE's token
webhook names Google accounts by email and its IAM webhook lets lab accounts manage ClusterRoleBindings only, so
everything else the playbook's account does in the cluster comes from the binding the role makes.

One identity for the whole run: the account the GCP modules act as (a user's, through Google's tokeninfo, or a
service account key's) is the one bound, the one the kubeconfig's gke-gcloud-auth-plugin authenticates as (it uses
the same credentials file, not gcloud's active account), and the two are checked to match before binding.
"""

import json
import os
import secrets
import shutil
import subprocess
import urllib.parse

import pytest
import requests
import yaml
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from lab.gcp import gke_webhooks
from lab.gcp.backends import ClusterBackend
from lab.gcp.operations import Settings
from lab.gcp.server import GcpStandIn
from lab.internet.client import client_env, write_gcloud_config
from lab.internet.proxy import ConnectProxy
from lab.internet.registry import HostRegistry
from lab.kubernetes import binaries
from lab.kubernetes.control_plane import ControlPlane, gke_issuer
from lab.kubernetes.testing import session_prefix
from lab.pki import LabCA
from tests.lab.gcp_lab import PROJECT, RecordingVmBackend
from tests.support.host_lab import host_lab_turn

pytestmark = pytest.mark.lab

USER = 'someone@example.com'
TIME_SCALE = 0.004
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  roles:
    - role: meshbridge.istio_vm.gke_cluster
"""
BIND_TASK = 'meshbridge.istio_vm.gke_cluster : Bind cluster-admin to %s'


class ControlPlanes(ClusterBackend):
    """Each cluster a real control plane at its GKE endpoint (127.0.10.N:443), authenticating Google tokens and
    authorizing with GKE's IAM through the stand-in's webhooks, as lab.world's KubeClusters does (without the
    VPC: no pod runs here)."""

    def __init__(self, state_dir, webhooks):
        self.state_dir = state_dir
        self.webhooks = webhooks
        self.planes = {}

    def create_cluster(self, spec):
        prefix = session_prefix() + secrets.token_hex(3) + '-'
        plane = ControlPlane(os.path.join(self.state_dir, spec.name), prefix=prefix,
                             host=spec.endpoint, port=443, cluster_cidr=spec.cluster_ipv4_cidr,
                             service_cidr=spec.services_ipv4_cidr, nodes=(),
                             issuer=gke_issuer(spec.project, spec.location, spec.name),
                             token_webhook=self.webhooks.webhook(gke_webhooks.TOKEN_REVIEW_PATH),
                             authorization_webhook=self.webhooks.webhook(gke_webhooks.AUTHORIZE_PATH))
        plane.start()
        self.planes[spec.name] = plane
        return plane.ca.cert_pem.decode()

    def delete_cluster(self, spec):
        plane = self.planes.pop(spec.name, None)
        if plane is not None:
            plane.stop()

    def stop(self):
        for plane in self.planes.values():
            plane.stop()
        self.planes.clear()


class Google:
    """The GCP stand-in behind the lab internet with real clusters; two service accounts and a user."""

    def __init__(self, directory):
        self.directory = directory
        ca = LabCA(os.path.join(directory, 'pki'))
        registry = HostRegistry()
        self.proxy = ConnectProxy(registry, port=0).start()
        self.clusters = ControlPlanes(os.path.join(directory, 'clusters'), None)
        self.stand_in = GcpStandIn(ca, self.clusters, RecordingVmBackend(),
                                   Settings(time_scale=TIME_SCALE, rate_429=0.0, rate_503=0.0, seed=3))
        # What a GKE API server asks Google, as lab.gcp.service wires it.
        self.webhooks = gke_webhooks.GkeWebhooks(ca, self.stand_in.authority)
        self.clusters.webhooks = self.webhooks
        self.stand_in.register(registry)
        self.stand_in.start()
        self.webhooks.start()
        self.ca_path = ca.cert_path
        self.key_file = os.path.join(directory, 'deployer.json')
        self.account = self.stand_in.authority.create_key_file(self.key_file, PROJECT, account='deployer')
        self.other_key_file = os.path.join(directory, 'other.json')
        self.other_account = self.stand_in.authority.create_key_file(self.other_key_file, PROJECT, account='other')
        self.user_file = os.path.join(directory, 'user-adc.json')
        self.stand_in.authority.create_user_credentials(self.user_file, USER, PROJECT)

    def stop(self):
        self.webhooks.stop()
        self.stand_in.stop()
        self.proxy.stop()
        self.clusters.stop()

    def env(self, home, **extra):
        """A user's environment: the lab internet, a HOME and a gcloud configuration of its own with no account."""
        proxy = urllib.parse.urlsplit(self.proxy.url)
        gcloud = write_gcloud_config(os.path.join(home, 'gcloud'), proxy.hostname, proxy.port, self.ca_path,
                                     project=PROJECT)
        env = dict(client_env(self.proxy.url, self.ca_path, gcloud), HOME=home, GCP_PROJECT=PROJECT,
                   KUBECACHEDIR=os.path.join(home, 'kube-cache'))
        for name in ('GOOGLE_APPLICATION_CREDENTIALS', 'GCP_SERVICE_ACCOUNT_FILE', 'GCP_AUTH_KIND'):
            env[name] = ''
        env.update(extra)
        return env


@pytest.fixture(scope='module')
def google(tmp_path_factory):
    with host_lab_turn():
        world = Google(str(tmp_path_factory.mktemp('google')))
        try:
            yield world
        finally:
            world.stop()


@pytest.fixture
def home(tmp_path):
    path = tmp_path / 'home'
    path.mkdir()
    return str(path)


def _role_vars(tmp_path, **overrides):
    result = {'gke_cluster_project': PROJECT, 'gke_cluster_num_nodes': 1,
              'gke_cluster_kubeconfig': str(tmp_path / 'kubeconfig')}
    result.update(overrides)
    return result


def _kubectl(env, kubeconfig, *args):
    return subprocess.run([binaries.path('kubectl'), '--kubeconfig', kubeconfig, '--context', 'west'] + list(args),
                          env=dict(env, PATH='/usr/bin:/bin'), capture_output=True, text=True, timeout=120,
                          check=False)


def _binding_subjects(google):
    plane = google.clusters.planes['west']
    status, binding = plane.api('GET', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/user-admin-binding')
    return [subject['name'] for subject in binding.get('subjects') or []] if status == 200 else None


def test_a_user_of_application_default_credentials_is_bound_and_acts(google, run_playbook, tmp_path, home):
    """`gcloud auth application-default login`: an authorized_user file in gcloud's directory, no gcloud account."""
    env = google.env(home, GCP_AUTH_KIND='application')
    shutil.copy(google.user_file, os.path.join(home, 'gcloud', 'application_default_credentials.json'))
    result = run_playbook(PLAYBOOK, extra_vars=_role_vars(tmp_path, gke_cluster_auth_kind='application'), env=env)
    assert result.task(BIND_TASK % USER)['changed'] is True
    assert _binding_subjects(google) == [USER]
    user = yaml.safe_load((tmp_path / 'kubeconfig').read_text())['users'][0]['user']['exec']
    assert user['args'] == ['--use_application_default_credentials']
    # kubectl, through the kubeconfig's real gke-gcloud-auth-plugin, acts as the user the binding names.
    listed = _kubectl(env, str(tmp_path / 'kubeconfig'), 'get', 'namespaces', '-o', 'name')
    assert listed.returncode == 0 and 'namespace/default' in listed.stdout.split(), listed.stderr
    whoami = _kubectl(env, str(tmp_path / 'kubeconfig'), 'auth', 'whoami', '-o', 'json')
    assert json.loads(whoami.stdout)['status']['userInfo']['username'] == USER


def test_a_service_account_key_is_what_the_kubeconfig_uses_whatever_gcloud_is_logged_in_as(
        google, run_playbook, tmp_path, home):
    env = google.env(home, GCP_AUTH_KIND='serviceaccount', GCP_SERVICE_ACCOUNT_FILE=google.key_file)
    # gcloud's active account is another one: gke-gcloud-auth-plugin's default would authenticate as that.
    activated = subprocess.run(['gcloud', 'auth', 'activate-service-account', '--key-file', google.other_key_file,
                                '--verbosity=error'], env=dict(os.environ, **env), capture_output=True, text=True,
                               timeout=120, check=False)
    assert activated.returncode == 0, activated.stderr
    run_playbook(PLAYBOOK, extra_vars=_role_vars(tmp_path, gke_cluster_auth_kind='serviceaccount'), env=env)
    assert _binding_subjects(google) == [google.account]
    # kubectl acts as the account bound, not as gcloud's.
    listed = _kubectl(env, str(tmp_path / 'kubeconfig'), 'get', 'namespaces', '-o', 'name')
    assert listed.returncode == 0 and 'namespace/default' in listed.stdout.split(), listed.stderr
    user = yaml.safe_load((tmp_path / 'kubeconfig').read_text())['users'][0]['user']['exec']
    assert user['env'] == [{'name': 'GOOGLE_APPLICATION_CREDENTIALS', 'value': os.path.realpath(google.key_file)}]


def test_a_kubeconfig_that_is_another_account_is_refused_before_binding(google, run_playbook, tmp_path, home):
    env = google.env(home, GCP_AUTH_KIND='serviceaccount', GCP_SERVICE_ACCOUNT_FILE=google.key_file)
    # A static token of another lab account: GKE's IAM would let it write the binding, for the wrong account.
    session = requests.Session()
    session.trust_env = False
    session.proxies = {'https': google.proxy.url}
    session.verify = google.ca_path
    credentials = service_account.Credentials.from_service_account_file(
        google.other_key_file, scopes=['https://www.googleapis.com/auth/cloud-platform',
                                       'https://www.googleapis.com/auth/userinfo.email'])
    credentials.refresh(Request(session))
    if 'west' in google.clusters.planes:  # made by an earlier test of this module
        google.clusters.planes['west'].api('DELETE',
                                           '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/user-admin-binding')
    refused = run_playbook(PLAYBOOK, extra_vars=_role_vars(tmp_path, gke_cluster_auth_kind='serviceaccount',
                                                           gke_cluster_kubeconfig_auth='token',
                                                           gke_cluster_kubeconfig_token=credentials.token),
                           env=env, expect_failure=True)
    outcome = refused.task(BIND_TASK % google.account)
    assert outcome['failed']
    assert 'authenticate to the cluster as %s' % google.other_account in outcome['msg']
    assert 'would be bound to %s' % google.account in outcome['msg']
    assert _binding_subjects(google) is None
