"""The GCP stand-in behind the lab internet, in this test process, for playbooks run through real ansible-playbook.

The backends (the stand-in's own test fakes) only record what the stand-in asks of them: no VM boots and no
Kubernetes API starts, so these tests cover the GCP calls (and the kubeconfig they produce), not SSH into VMs or
the cluster-admin binding.
"""

import pytest
import requests
from google.auth.transport.requests import AuthorizedSession, Request
from google.oauth2 import service_account

from lab.gcp.operations import Settings
from lab.gcp.server import GcpStandIn
from lab.internet.client import client_env
from lab.internet.proxy import ConnectProxy
from lab.internet.registry import HostRegistry
from lab.pki import LabCA
from tests.lab.gcp_lab import PROJECT, RecordingClusterBackend, RecordingVmBackend

# Real durations x 0.004: a cluster create takes ~1.3 s, an instance insert ~0.1 s.
TIME_SCALE = 0.004


class Lab:
    """The stand-in, its recording backends, every API call it answered, and the environment that sends clients
    to it. ``get`` reads a resource the way a client would: through the proxy, with the lab key."""

    def __init__(self, stand_in, clusters, vms, env, proxy_url, ca_path):
        self.proxy_url = proxy_url
        self.ca_path = ca_path
        self.gcp = stand_in
        self.clusters = clusters
        self.vms = vms
        self.env = env
        self.calls = []
        answer = stand_in.call

        def recording_call(host, http_method, url, headers, body_bytes):
            self.calls.append((http_method, host, url))
            return answer(host, http_method, url, headers, body_bytes)

        stand_in.call = recording_call
        credentials = service_account.Credentials.from_service_account_file(
            env['GCP_SERVICE_ACCOUNT_FILE'], scopes=['https://www.googleapis.com/auth/cloud-platform'])
        # Explicit proxy and CA for the API and the token requests: this process's environment is left alone.
        token_session = _through_lab_internet(requests.Session(), proxy_url, ca_path)
        self._session = _through_lab_internet(AuthorizedSession(credentials, auth_request=Request(token_session)),
                                              proxy_url, ca_path)

    def get(self, url):
        """The resource at ``url``, or None when the stand-in answers 404."""
        response = self._session.get(url)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        return response.json()

    def mutations(self):
        return [call for call in self.calls if call[0] != 'GET']


def _through_lab_internet(session, proxy_url, ca_path):
    # trust_env off, or requests would prefer a REQUESTS_CA_BUNDLE from the environment over the lab CA.
    session.trust_env = False
    session.proxies = {'https': proxy_url}
    session.verify = ca_path
    return session


@pytest.fixture
def gcp_lab(tmp_path):
    ca = LabCA(str(tmp_path / 'pki'))
    registry = HostRegistry()
    proxy = ConnectProxy(registry, port=0).start()
    clusters, vms = RecordingClusterBackend(ca), RecordingVmBackend()
    # Explicit settings: no MESHBRIDGE_LAB_* variable of the caller's environment changes what the tests see.
    settings = Settings(time_scale=TIME_SCALE, rate_429=0.0, rate_503=0.0, seed=7, rate_403=0.0,
                        gke_operation_after_create='', quotas={}, os_login=False)
    stand_in = GcpStandIn(ca, clusters, vms, settings)
    stand_in.register(registry)
    stand_in.start()
    key_file = str(tmp_path / 'lab-sa.json')
    stand_in.authority.create_key_file(key_file, PROJECT)
    env = client_env(proxy.url, ca.cert_path)
    env['GCP_SERVICE_ACCOUNT_FILE'] = key_file
    # As the lab's environment file sets it: the lab inventory keeps what a run makes there.
    env['MESHBRIDGE_LAB_STATE'] = str(tmp_path / 'lab-state')
    try:
        yield Lab(stand_in, clusters, vms, env, proxy.url, ca.cert_path)
    finally:
        stand_in.stop()
        proxy.stop()
