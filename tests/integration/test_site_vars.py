"""Every variable the stage playbooks derive (playbooks/vars/site.yml) resolves against each shipped inventory's
group_vars, before anything has run: a name a stage needs and an inventory lacks fails here, not half-way through a
real project."""

import json
import os

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SITE_VARS = os.path.join(REPO, 'playbooks', 'vars', 'site.yml')
PLAY = """
- hosts: istio-gce
  gather_facts: false
  vars_files:
    - %s
  tasks:
    - name: Resolve each derived variable
      ansible.builtin.debug:
        msg: "{{ lookup('ansible.builtin.vars', item) }}"
      loop: %s
"""


@pytest.mark.parametrize('inventory', ['gcp', 'lab'])
def test_every_derived_variable_resolves_with_the_inventory(run_playbook, tmp_path, inventory):
    with open(SITE_VARS, encoding='utf-8') as handle:
        names = sorted(yaml.safe_load(handle))
    # The inventory's group_vars with the tutorial's VM as a static host: the dynamic source would call the
    # Compute API. The VM's own variables resolve on it, the controller's on any host.
    (tmp_path / 'inventory').mkdir()
    (tmp_path / 'inventory' / 'hosts').write_text('istio-gce ansible_connection=local\n')
    os.symlink(os.path.join(REPO, 'inventories', inventory, 'group_vars'), tmp_path / 'inventory' / 'group_vars')
    resolved = run_playbook(PLAY % (SITE_VARS, names), inventory=str(tmp_path / 'inventory'), env=_lab_env(tmp_path))
    results = resolved.task('Resolve each derived variable', host='istio-gce')['results']
    values = dict((item['item'], item['msg']) for item in results)
    assert sorted(values) == names
    assert values['mesh_verify_vms'][0]['name'] == 'istio-gce'
    assert values['online_boutique_vm_services'] == ['productcatalogservice']
    assert not values['istio_control_plane_ca_dir'].startswith('~')
    assert [service['name'] for service in values['vm_workload_services']] == ['productcatalogservice']
    assert values['vm_sidecar_bundle_dir'].endswith('/vms/istio-gce')


def _inventory(tmp_path, inventory):
    path = tmp_path / ('inventory-' + inventory)
    path.mkdir()
    (path / 'hosts').write_text('localhost ansible_connection=local\n')
    os.symlink(os.path.join(REPO, 'inventories', inventory, 'group_vars'), path / 'group_vars')
    return str(path)


def _lab_env(tmp_path):
    """What the lab's environment file gives a run: its state directory and its service account key, and the kind
    of credentials (which inventories/gcp reads too)."""
    key = tmp_path / 'lab-sa.json'
    key.write_text('{}')
    return {'MESHBRIDGE_LAB_STATE': str(tmp_path / 'lab'), 'GCP_SERVICE_ACCOUNT_FILE': str(key),
            'GCP_AUTH_KIND': 'serviceaccount'}


def _validate(run_playbook, tmp_path, inventory, expect_failure=False, env=None, **extra_vars):
    with open(os.path.join(REPO, 'playbooks', 'validate.yml'), encoding='utf-8') as handle:
        playbook = handle.read().replace('- vars/site.yml', '- ' + SITE_VARS)
    return run_playbook(playbook, inventory=_inventory(tmp_path, inventory), extra_vars=extra_vars or None,
                        expect_failure=expect_failure, env=_lab_env(tmp_path) if env is None else env)


@pytest.mark.parametrize('inventory', ['gcp', 'lab'])
def test_the_shipped_settings_pass_validation(run_playbook, tmp_path, inventory):
    assert _validate(run_playbook, tmp_path, inventory).changed() == 0


@pytest.mark.parametrize('extra_vars, task, message', [
    ({'gce_vm_instances': [{'name': 'istio-gce', 'services': [{'name': 'catalogservice', 'port': 3550}]}]},
     "Check the services placed on VMs are Online Boutique's",
     'online_boutique_vm_services names catalogservice, which Online Boutique v0.10.5 does not have'),
    ({'gke_cluster_cluster_ipv4_cidr': '10.4.0.0/33'}, 'Check the cluster settings', 'gke_cluster_cluster_ipv4_cidr=10.4.0.0/33 is invalid'),
    ({'meshbridge_istio_version': 'latest'}, 'Check the Istio version', 'must be an Istio release such as'),
    ({'gce_vm_instances': [{'name': 'Istio_GCE', 'services': [{'name': 'productcatalogservice', 'port': 3550}]}]},
     "Check each VM's name, tags, labels and service ports", 'gce_vm_instances entry Istio_GCE'),
])
def test_a_bad_setting_of_any_stage_stops_before_the_first_stage(run_playbook, tmp_path, extra_vars, task, message):
    refused = _validate(run_playbook, tmp_path, 'lab', expect_failure=True, **extra_vars)
    failures = [outcome for play in refused.report['plays'] for outcome_task in play['tasks']
                if outcome_task['task']['name'].endswith(' : ' + task)
                for outcome in [outcome_task['hosts']['localhost']] if outcome.get('failed')]
    assert failures, json.dumps(refused.report)[-3000:]
    outcome = failures[0]
    text = json.dumps(outcome)
    assert message in text, text


def test_the_lab_inventory_outside_the_lab_is_refused_before_anything_changes(run_playbook, tmp_path):
    refused = _validate(run_playbook, tmp_path, 'lab', expect_failure=True, env={'MESHBRIDGE_LAB_STATE': ''})
    assert 'MESHBRIDGE_LAB_STATE is not set: run site.yml on the lab through `make lab`' in json.dumps(refused.report)
    assert refused.changed() == 0


def test_a_missing_service_account_key_is_refused_before_anything_changes(run_playbook, tmp_path):
    env = dict(_lab_env(tmp_path), GCP_SERVICE_ACCOUNT_FILE=str(tmp_path / 'missing.json'))
    refused = _validate(run_playbook, tmp_path, 'lab', expect_failure=True, env=env)
    message = refused.task('Check the GCP credentials are there')['msg']
    assert 'gcp_auth_kind is serviceaccount but the service account key %s is not a file' % (tmp_path / 'missing.json') in message


def test_a_relative_work_dir_is_refused(run_playbook, tmp_path):
    refused = _validate(run_playbook, tmp_path, 'gcp', expect_failure=True, meshbridge_work_dir='work')
    assert 'meshbridge_work_dir (work) must be an absolute path' in json.dumps(refused.report)
