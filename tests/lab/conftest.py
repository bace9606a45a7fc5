"""Fixtures for the lab's tests: a real Kubernetes control plane with kubectl and the kubernetes client, a lab CA,
the lab internet, the GCP stand-in with recording backends, and a lab VPC. ``run_playbook`` comes from
tests/conftest.py."""

import os

import pytest
from kubernetes import config, dynamic

from lab.gcp.operations import Settings
from lab.gcp.server import GcpStandIn
from lab.internet.client import client_env, write_gcloud_config
from lab.internet.proxy import ConnectProxy
from lab.internet.registry import HostRegistry
from lab.kubernetes.testing import running_control_plane
from lab.net.vpc import Vpc
from lab.pki import LabCA
from tests.support.kubectl import Kubectl
from tests.lab.gcp_lab import PROJECT, TIME_SCALE, RecordingClusterBackend, RecordingVmBackend
from tests.lab.vm_lab import leftovers, unique_names


@pytest.fixture
def kube(tmp_path):
    """A real control plane (lab.kubernetes.testing) with one node and LoadBalancer addresses."""
    with running_control_plane(tmp_path / 'kube', lb_range='10.168.8.0/24') as handle:
        yield handle


@pytest.fixture
def kubectl(kube, tmp_path):
    home = tmp_path / 'home'
    home.mkdir()
    return Kubectl(kube.kubeconfig, home)


@pytest.fixture
def api(kube):
    """The kubernetes client's DynamicClient on the cluster (context ``lab``)."""
    return dynamic.DynamicClient(config.new_client_from_config(config_file=kube.kubeconfig, context='lab'))


@pytest.fixture
def lab_ca(tmp_path):
    return LabCA(str(tmp_path / 'pki'))


@pytest.fixture
def internet(lab_ca):
    registry = HostRegistry()
    proxy = ConnectProxy(registry, port=0).start()
    yield registry, proxy
    proxy.stop()


@pytest.fixture
def backends(lab_ca):
    return RecordingClusterBackend(lab_ca), RecordingVmBackend()


@pytest.fixture
def gcp(lab_ca, internet, backends):
    settings = Settings(time_scale=TIME_SCALE, rate_429=0.0, rate_503=0.0, seed=1, rate_403=0.0,
                        gke_operation_after_create='', quotas={}, os_login=False)
    stand_in = GcpStandIn(lab_ca, backends[0], backends[1], settings)
    stand_in.register(internet[0])
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def key_file(gcp, tmp_path):
    path = str(tmp_path / 'sa.json')
    gcp.authority.create_key_file(path, PROJECT)
    return path


@pytest.fixture
def lab_env(internet, lab_ca, tmp_path, monkeypatch):
    """This process and its children see the lab internet as the internet (requests, google-auth, gcloud)."""
    _registry, proxy = internet
    gcloud_config = write_gcloud_config(str(tmp_path / 'gcloud'), proxy.address, proxy.port, lab_ca.cert_path, project=PROJECT)
    env = client_env(proxy.url, lab_ca.cert_path, gcloud_config)
    for name in ('HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy'):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return dict(os.environ)


@pytest.fixture
def session(key_file, lab_env):
    """A google-auth AuthorizedSession from the lab key, through the proxy (the path google.cloud modules take)."""
    from google.auth.transport.requests import AuthorizedSession
    from google.oauth2 import service_account
    credentials = service_account.Credentials.from_service_account_file(
        key_file, scopes=['https://www.googleapis.com/auth/cloud-platform'])
    return AuthorizedSession(credentials)


@pytest.fixture(scope='module')
def vpc():
    """A lab VPC of the module's own, with an isolated controller and cluster west's namespace; nothing of it may be
    left on the host afterwards."""
    network = Vpc(unique_names(), isolated_controller=True)
    network.create()
    network.add_cluster('west', 1)
    yield network
    network.destroy()
    assert not leftovers(network.names)
