"""gcloud, unmodified and with its real endpoints, works against the stand-in through the lab internet."""

import json
import subprocess

from tests.lab.gcp_lab import PROJECT
from tests.lab.gcp_lab import COMPUTE, CONTAINER, firewall, instance, wait_done


def _gcloud(env, *args):
    completed = subprocess.run(['gcloud', *args, '--format=json', '--verbosity=error'], env=env, capture_output=True,
                               text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout) if completed.stdout.strip() else None


def test_gcloud_activates_the_key_and_reads_compute_and_container(gcp, key_file, lab_env, session, internet):
    wait_done(session, session.post(COMPUTE + 'global/firewalls', json=firewall()).json())
    wait_done(session, session.post(COMPUTE + 'zones/us-west2-a/instances', json=instance()).json())
    wait_done(session, session.post(CONTAINER + 'locations/us-west2-a/clusters', json={'cluster': {'name': 'west', 'initialNodeCount': 1}}).json())

    _gcloud(lab_env, 'auth', 'activate-service-account', '--key-file', key_file)
    accounts = _gcloud(lab_env, 'auth', 'list')
    assert accounts[0]['account'] == 'meshbridge-lab@%s.iam.gserviceaccount.com' % PROJECT

    rules = _gcloud(lab_env, 'compute', 'firewall-rules', 'list')
    assert 'allow-mesh' in [rule['name'] for rule in rules]
    listed = _gcloud(lab_env, 'compute', 'instances', 'list')
    assert [(vm['name'], vm['status']) for vm in listed] == [('istio-gce', 'RUNNING')]
    described = _gcloud(lab_env, 'compute', 'instances', 'describe', 'istio-gce', '--zone', 'us-west2-a')
    assert described['networkInterfaces'][0]['networkIP'] == '10.168.0.20'

    clusters = _gcloud(lab_env, 'container', 'clusters', 'list')
    assert [(c['name'], c['status']) for c in clusters] == [('west', 'RUNNING')]
    cluster = _gcloud(lab_env, 'container', 'clusters', 'describe', 'west', '--zone', 'us-west2-a')
    assert cluster['endpoint'] == '127.0.10.1' and cluster['clusterIpv4Cidr'] == '10.4.0.0/14'
    # gcloud never tried a host the lab internet does not serve (no usage reporting, update checks, metadata server).
    assert internet[1].refusals == []
