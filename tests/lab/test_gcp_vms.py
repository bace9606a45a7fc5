"""End to end with the real VM backend: an instance inserted through the API boots a lab VM reachable by SSH."""

import os
import subprocess

import pytest
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account

from lab.gcp.operations import Settings
from lab.gcp.server import GcpStandIn
from lab.net import netns
from lab.net.vpc import Vpc
from lab.vms.base_root import BaseRoot
from lab.vms.fleet import Fleet
from tests.lab.gcp_lab import COMPUTE, PROJECT, RecordingClusterBackend, instance, wait_done
from vm_lab import leftovers, unique_names

pytestmark = pytest.mark.lab


@pytest.fixture
def fleet_gcp(tmp_path, lab_ca, internet):
    names = unique_names()
    vpc = Vpc(names, isolated_controller=True)
    vpc.create()
    fleet = Fleet(vpc, str(tmp_path / 'state'), BaseRoot())
    stand_in = GcpStandIn(lab_ca, RecordingClusterBackend(lab_ca), fleet, Settings(time_scale=0.002, rate_429=0.0, rate_503=0.0))
    stand_in.register(internet[0])
    stand_in.start()
    yield stand_in, fleet, vpc
    stand_in.stop()
    for name in fleet.names():
        fleet.delete_instance(name)
    vpc.destroy()
    assert not leftovers(names)


def test_inserted_instance_boots_behind_its_firewall_and_takes_its_ssh_key(fleet_gcp, lab_env, tmp_path):
    stand_in, fleet, vpc = fleet_gcp
    stand_in.authority.create_key_file(str(tmp_path / 'sa.json'), PROJECT)
    credentials = service_account.Credentials.from_service_account_file(
        str(tmp_path / 'sa.json'), scopes=['https://www.googleapis.com/auth/compute'])
    session = AuthorizedSession(credentials)
    key = str(tmp_path / 'alice')
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', key], check=True)
    with open(key + '.pub', encoding='ascii') as handle:
        public = handle.read().strip()
    body = instance(metadata={'items': [{'key': 'ssh-keys', 'value': 'alice:' + public}]})
    done = wait_done(session, session.post(COMPUTE + 'zones/us-west2-a/instances', json=body).json(), timeout=120)
    assert 'error' not in done, done
    vm = session.get(done['targetLink']).json()
    address = vm['networkInterfaces'][0]['networkIP']
    assert vm['status'] == 'RUNNING' and fleet.names() == ['istio-gce'] and address == '10.168.0.20'
    ssh = ['ssh', '-F', '/dev/null', '-i', key, '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no',
           '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=5', 'alice@' + address, 'hostname']
    result = subprocess.run(netns.command(vpc.controller_netns, ssh), capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'istio-gce'

    wait_done(session, session.delete(done['targetLink']).json(), timeout=60)
    assert fleet.names() == []
    assert not os.path.exists(str(tmp_path / 'state' / 'vms' / 'istio-gce'))


def test_os_login_makes_the_vm_refuse_its_metadata_key_until_the_project_turns_it_off(fleet_gcp, lab_env, tmp_path):
    # A project under constraints/compute.requireOsLogin: the VM takes no key from metadata
    # (https://cloud.google.com/compute/docs/oslogin), and SSH says so as it does on Compute Engine.
    stand_in, _fleet, vpc = fleet_gcp
    stand_in.settings.os_login = True
    stand_in.authority.create_key_file(str(tmp_path / 'sa.json'), PROJECT)
    credentials = service_account.Credentials.from_service_account_file(
        str(tmp_path / 'sa.json'), scopes=['https://www.googleapis.com/auth/compute'])
    session = AuthorizedSession(credentials)
    key = str(tmp_path / 'alice')
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', key], check=True)
    with open(key + '.pub', encoding='ascii') as handle:
        public = handle.read().strip()
    body = instance(metadata={'items': [{'key': 'ssh-keys', 'value': 'alice:' + public}]})
    done = wait_done(session, session.post(COMPUTE + 'zones/us-west2-a/instances', json=body).json(), timeout=120)
    assert 'error' not in done, done
    address = session.get(done['targetLink']).json()['networkInterfaces'][0]['networkIP']
    ssh = ['ssh', '-F', '/dev/null', '-i', key, '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes',
           '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=5',
           'alice@' + address, 'hostname']
    refused = subprocess.run(netns.command(vpc.controller_netns, ssh), capture_output=True, text=True, timeout=60,
                             check=False)
    assert refused.returncode == 255 and 'Permission denied (publickey)' in refused.stderr, refused.stderr

    project = session.get(COMPUTE.rstrip('/')).json()
    wait_done(session, session.post(COMPUTE + 'setCommonInstanceMetadata', json={
        'fingerprint': project['commonInstanceMetadata']['fingerprint'],
        'items': [{'key': 'enable-oslogin', 'value': 'FALSE'}]}).json(), timeout=60)
    accepted = subprocess.run(netns.command(vpc.controller_netns, ssh), capture_output=True, text=True, timeout=60,
                              check=False)
    assert accepted.returncode == 0 and accepted.stdout.strip() == 'istio-gce', accepted.stderr
