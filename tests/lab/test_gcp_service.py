"""``python -m lab.gcp serve``: the proxy and stand-in run as a process and write what clients need."""

import os
import re
import signal
import subprocess
import sys

import requests
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _env_file(path):
    with open(path, encoding='utf-8') as handle:
        return dict(re.match(r"export (\w+)=(.*)", line.strip()).groups() for line in handle)


def test_serve_runs_until_terminated_and_writes_client_files(tmp_path, monkeypatch):
    command = [sys.executable, '-m', 'lab.gcp', 'serve', '--state-dir', str(tmp_path), '--proxy-port', '0', '--time-scale', '0.002',
               '--cluster-backend', 'tests.lab.gcp_lab:NoClusterBackend', '--vm-backend', 'tests.lab.gcp_lab:RecordingVmBackend']
    server = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              env=dict(os.environ, PYTHONPATH=REPO))
    try:
        banner = server.stdout.readline()
        assert banner.startswith('proxy http://127.0.0.1:'), banner
        env = _env_file(tmp_path / 'lab.env')
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        key_file = tmp_path / 'gcp' / 'meshbridge-lab-sa.json'
        assert os.stat(key_file).st_mode & 0o777 == 0o600
        credentials = service_account.Credentials.from_service_account_file(
            str(key_file), scopes=['https://www.googleapis.com/auth/cloud-platform'])
        response = AuthorizedSession(credentials).get('https://compute.googleapis.com/compute/v1/projects/meshbridge-lab/regions/us-west2')
        assert response.status_code == 200 and response.json()['name'] == 'us-west2'
        assert os.path.exists(os.path.join(env['CLOUDSDK_CONFIG'], 'configurations', 'config_default'))
        try:
            requests.get('https://example.com/', timeout=10)
        except requests.exceptions.ProxyError as error:
            assert '403' in str(error)
        else:
            raise AssertionError('the proxy let example.com through')
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
