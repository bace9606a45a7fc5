"""inventories/gcp reads the VMs with the credentials the modules use, whichever kind GCP_AUTH_KIND names: a service
account key (GCP_SERVICE_ACCOUNT_FILE), or a user's `gcloud auth application-default login`. Run against the GCP
stand-in with inventories/gcp's own files, only the project changed to the lab's."""

import os
import shutil

import pytest

from tests.lab.gcp_lab import PROJECT

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
USER = 'someone@example.com'
VMS = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Start the VMs
      ansible.builtin.include_role:
        name: meshbridge.istio_vm.gce_vm
        tasks_from: start
    - name: Collect the VMs
      ansible.builtin.include_role:
        name: meshbridge.istio_vm.gce_vm
"""
LISTED = """
- hosts: mesh_vms
  gather_facts: false
  tasks:
    - name: Show the VM
      ansible.builtin.debug:
        msg: "{{ gcp_auth_kind }} {{ networkInterfaces[0].networkIP }}"
"""


@pytest.fixture
def inventory(tmp_path):
    """A copy of inventories/gcp for the lab's project (its files name my-project, as a user's start out)."""
    path = tmp_path / 'inventory'
    shutil.copytree(os.path.join(REPO, 'inventories', 'gcp'), path)
    for name in ('meshbridge.gcp_compute.yml', os.path.join('group_vars', 'all.yml')):
        text = (path / name).read_text()
        assert 'my-project' in text
        (path / name).write_text(text.replace('my-project', PROJECT))
    return str(path)


@pytest.fixture
def vm(run_playbook, gcp_lab, tmp_path):
    run_playbook(VMS, extra_vars={'gce_vm_project': PROJECT, 'gce_vm_auth_kind': 'serviceaccount',
                                  'gce_vm_pod_cidr': '10.4.0.0/14', 'gce_vm_ssh_address': 'internal',
                                  'gce_vm_wait_for_ssh': False}, env=gcp_lab.env)
    [created] = gcp_lab.vms.created
    return created['networkInterfaces'][0]['networkIP']


def _env(gcp_lab, **extra):
    # A parse failure is an error here, not a warning and a play without the VMs.
    env = {key: value for key, value in gcp_lab.env.items() if key != 'GCP_SERVICE_ACCOUNT_FILE'}
    env['ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED'] = 'true'
    env.update(extra)
    return env


def test_a_service_account_key_reads_the_inventory(run_playbook, gcp_lab, inventory, vm):
    env = _env(gcp_lab, GCP_AUTH_KIND='serviceaccount',
               GCP_SERVICE_ACCOUNT_FILE=gcp_lab.env['GCP_SERVICE_ACCOUNT_FILE'])
    listed = run_playbook(LISTED, inventory=inventory, env=env)
    assert listed.task('Show the VM', host='istio-gce')['msg'] == 'serviceaccount %s' % vm


def test_a_users_application_default_credentials_read_the_inventory(run_playbook, gcp_lab, inventory, vm, tmp_path):
    gcloud = tmp_path / 'gcloud'
    gcloud.mkdir()
    gcp_lab.gcp.authority.create_user_credentials(str(gcloud / 'application_default_credentials.json'), USER, PROJECT)
    env = _env(gcp_lab, GCP_AUTH_KIND='application', CLOUDSDK_CONFIG=str(gcloud), HOME=str(tmp_path))
    listed = run_playbook(LISTED, inventory=inventory, env=env)
    assert listed.task('Show the VM', host='istio-gce')['msg'] == 'application %s' % vm


def test_without_gcp_auth_kind_the_run_says_what_to_set(run_playbook, gcp_lab, inventory):
    env = _env(gcp_lab, ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED='false')
    failed = run_playbook("""
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: Read the kind of credentials
              ansible.builtin.debug:
                msg: "{{ gcp_auth_kind }}"
    """, inventory=inventory, env=env, expect_failure=True)
    message = failed.task('Read the kind of credentials')['msg']
    assert 'GCP_AUTH_KIND is not set' in message and 'export GCP_AUTH_KIND=application' in message
