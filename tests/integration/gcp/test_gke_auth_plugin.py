"""The user entry kubeconfig_entry writes runs gke-gcloud-auth-plugin; in the lab that real plugin gets its token
from gcloud, which gets it from the stand-in's OAuth endpoint with the lab key, through the lab internet."""

import json
import subprocess
import urllib.parse

from lab.internet.client import write_gcloud_config
from tests.lab.gcp_lab import PROJECT

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.kubeconfig import user_entry


def test_gke_auth_plugin_gets_a_token_the_stand_in_accepts(gcp_lab, tmp_path):
    proxy = urllib.parse.urlsplit(gcp_lab.proxy_url)
    config_dir = write_gcloud_config(str(tmp_path / 'gcloud'), proxy.hostname, proxy.port, gcp_lab.ca_path, project=PROJECT)
    env = dict(gcp_lab.env, CLOUDSDK_CONFIG=config_dir, PATH='/usr/bin:/bin')
    subprocess.run(['gcloud', 'auth', 'activate-service-account', '--key-file', env['GCP_SERVICE_ACCOUNT_FILE']],
                   env=env, check=True, capture_output=True, timeout=120)

    command = user_entry('gke_auth_plugin')['exec']['command']
    answer = subprocess.run([command], env=env, check=True, capture_output=True, text=True, timeout=120)
    credential = json.loads(answer.stdout)
    assert credential['kind'] == 'ExecCredential'
    token = credential['status']['token']

    status, body, dummy = gcp_lab.gcp.call(
        'compute.googleapis.com', 'GET', '/compute/v1/projects/%s/global/networks/default' % PROJECT,
        {'Authorization': 'Bearer ' + token}, b'')
    assert status == 200, body
    status, body, dummy = gcp_lab.gcp.call(
        'compute.googleapis.com', 'GET', '/compute/v1/projects/%s/global/networks/default' % PROJECT,
        {'Authorization': 'Bearer ya29.not-issued-by-the-lab'}, b'')
    assert status == 401
