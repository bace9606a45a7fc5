"""``lab.gcp.service.start``: the proxy and the GCP stand-in run together and write what clients need."""

import os
import re

import requests
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account

from lab.gcp import service
from lab.gcp.operations import Settings
from tests.lab.gcp_lab import PROJECT, TIME_SCALE, NoClusterBackend, RecordingVmBackend


def _env_file(path):
    with open(path, encoding='utf-8') as handle:
        return dict(re.match(r"export (\w+)=(.*)", line.strip()).groups() for line in handle)


def test_start_serves_and_writes_client_files(tmp_path, monkeypatch):
    lab = service.start(str(tmp_path), NoClusterBackend(), RecordingVmBackend(), PROJECT, proxy_port=0,
                        settings=Settings(time_scale=TIME_SCALE))
    try:
        assert lab.proxy.url.startswith('http://127.0.0.1:')
        env = _env_file(tmp_path / 'lab.env')
        for name in ('HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy'):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        key_file = tmp_path / 'gcp' / ('%s-sa.json' % PROJECT)
        assert str(key_file) == lab.key_file
        assert os.stat(key_file).st_mode & 0o777 == 0o600
        credentials = service_account.Credentials.from_service_account_file(
            str(key_file), scopes=['https://www.googleapis.com/auth/cloud-platform'])
        response = AuthorizedSession(credentials).get('https://compute.googleapis.com/compute/v1/projects/%s/regions/us-west2' % PROJECT)
        assert response.status_code == 200 and response.json()['name'] == 'us-west2'
        assert os.path.exists(os.path.join(env['CLOUDSDK_CONFIG'], 'configurations', 'config_default'))
        try:
            requests.get('https://example.com/', timeout=10)
        except requests.exceptions.ProxyError as error:
            assert '403' in str(error)
        else:
            raise AssertionError('the proxy let example.com through')
    finally:
        lab.stop()
