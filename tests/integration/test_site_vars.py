"""Every variable the stage playbooks derive (playbooks/vars/site.yml) resolves against each shipped inventory's
group_vars, before anything has run: a name a stage needs and an inventory lacks fails here, not half-way through a
real project."""

import json
import os
import re

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


def _vms(*services, **vm):
    """The lab's VM list with one VM: its services, each (name, port), and any other keys of the VM."""
    return [dict({'name': 'istio-gce', 'services': [{'name': name, 'port': port} for name, port in services]}, **vm)]


CATALOG = ('productcatalogservice', 3550)
LONG_NAME = 'vm-' + 'a' * 60

# The refused inputs: each row is the override, the one setting its message names, and the rule the message gives
# (the message is `<setting>: <value> <rule>; <fix>`). On the lab inventory unless the row names another.
REFUSED = [
    ({'gce_vm_instances': _vms(('productcatalogservice', 0))}, 'gce_vm_instances[0].services[0].port', '0 is outside 1-65535'),
    ({'gce_vm_instances': _vms(('productcatalogservice', 65536))}, 'gce_vm_instances[0].services[0].port', '65536 is outside 1-65535'),
    ({'gce_vm_instances': _vms(CATALOG, ('cartservice', 70000))}, 'gce_vm_instances[0].services[1].port', '70000 is outside 1-65535'),
    ({'gce_vm_instances': [{'name': 'Istio_GCE', 'services': [{'name': 'productcatalogservice', 'port': 3550}]}]},
     'gce_vm_instances[0].name', '"Istio_GCE" has characters other than lowercase letters, digits and hyphens'),
    ({'gce_vm_instances': _vms(CATALOG, name='1vm')}, 'gce_vm_instances[0].name', '"1vm" does not start with a lowercase letter'),
    ({'gce_vm_instances': _vms(CATALOG, name='vm-')}, 'gce_vm_instances[0].name', '"vm-" ends with a hyphen'),
    ({'gce_vm_instances': _vms(CATALOG, name='')}, 'gce_vm_instances[0].name', '"" is empty or not a string'),
    ({'gce_vm_instances': _vms(CATALOG, name='v' * 64)}, 'gce_vm_instances[0].name', 'is longer than 63 characters'),
    ({'gce_vm_instances': _vms(CATALOG, name=LONG_NAME)}, 'gce_vm_instances[0].name',
     'makes the firewall rule name k8s-to-%s longer than 63 characters' % LONG_NAME),
    ({'gce_vm_instances': _vms(CATALOG) + _vms(('cartservice', 7070))}, 'gce_vm_instances',
     '["istio-gce", "istio-gce"] names a VM more than once'),
    ({'gce_vm_instances': _vms(CATALOG, CATALOG)}, 'gce_vm_instances[0].services',
     '["productcatalogservice", "productcatalogservice"] names a service more than once'),
    ({'gce_vm_instances': _vms(CATALOG, ('cartservice', 3550))}, 'gce_vm_instances[0].services',
     'gives two services the same port (3550, 3550)'),
    ({'gce_vm_instances': _vms()}, 'gce_vm_instances[0].services', '[] is empty'),
    ({'gce_vm_instances': _vms(CATALOG, zone='us-west2')}, 'gce_vm_instances[0].zone', '"us-west2" is a region, not a zone'),
    ({'gce_vm_instances': _vms(CATALOG, tags=['Web'])}, 'gce_vm_instances[0].tags', '["Web"] has a tag that is not a name'),
    ({'gce_vm_instances': _vms(CATALOG, labels={'Team': 'mesh'})}, 'gce_vm_instances[0].labels',
     'has a key that is not a label key'),
    ({'gce_vm_instances': _vms(('catalogservice', 3550))}, 'online_boutique_vm_services',
     '["catalogservice"] names catalogservice, which Online Boutique v0.10.5 does not have'),
    ({'gcp_zone': 'us-west2'}, 'gke_cluster_zone',
     '"us-west2" is a region, not a zone; give one of its zones, such as us-west2-a (as a GKE location a region makes a '
     "regional cluster, with the nodes in each of the region's zones: three times the nodes and their cost)"),
    ({'gcp_zone': 'us-west2a'}, 'gke_cluster_zone', '"us-west2a" is not a zone (REGION-LETTER, such as us-west2-a)'),
    ({'gcp_zone': ''}, 'gke_cluster_zone', '"" is empty'),
    ({'gce_vm_zone': 'uswest2-a'}, 'gce_vm_zone', '"uswest2-a" is not a zone'),
    ({'gcp_project': 'My_Project'}, 'gke_cluster_project', '"My_Project" has characters other than lowercase letters, digits and hyphens'),
    ({'gcp_project': 'proj'}, 'gke_cluster_project', '"proj" is not 6-30 characters long'),
    ({'gcp_project': 'p' * 31}, 'gke_cluster_project', 'is not 6-30 characters long'),
    ({'gcp_project': '123456789012'}, 'gke_cluster_project', '"123456789012" does not start with a lowercase letter'),
    ({'gcp_project': 'my-project-'}, 'gke_cluster_project', '"my-project-" ends with a hyphen'),
    ({'gce_vm_project': 'my project'}, 'gce_vm_project', '"my project" has characters other than'),
    ({'gke_cluster_machine_type': ''}, 'gke_cluster_machine_type', '"" is empty'),
    ({'gce_vm_machine_type': ''}, 'gce_vm_machine_type', '"" is empty'),
    ({'gce_vm_machine_type': 'n1 standard 2'}, 'gce_vm_machine_type', '"n1 standard 2" is not a machine type'),
    ({'gke_cluster_name': 'c' * 41}, 'gke_cluster_name', 'is longer than 40 characters'),
    ({'gke_cluster_num_nodes': 0}, 'gke_cluster_num_nodes', '0 is below 1'),
    ({'gke_cluster_disk_size': 5}, 'gke_cluster_disk_size', '5 is below 10'),
    ({'gke_cluster_enable_cloud_monitoring': False}, 'gke_cluster_enable_cloud_logging',
     'true differs from gke_cluster_enable_cloud_monitoring (false)'),
    ({'gke_cluster_cluster_ipv4_cidr': '10.4.0.0/33'}, 'gke_cluster_cluster_ipv4_cidr', '"10.4.0.0/33" is not a CIDR range without host bits'),
    ({'gke_cluster_cluster_ipv4_cidr': '10.4.0.1/14'}, 'gke_cluster_cluster_ipv4_cidr', '"10.4.0.1/14" is not a CIDR range without host bits'),
    ({'gke_cluster_cluster_ipv4_cidr': '10.4.0.0/14', 'gke_cluster_services_ipv4_cidr': '10.4.0.0/20'}, 'gke_cluster_services_ipv4_cidr',
     '"10.4.0.0/20" overlaps gke_cluster_cluster_ipv4_cidr (10.4.0.0/14)'),
    ({'gce_vm_disk_size_gb': 5}, 'gce_vm_disk_size_gb', '5 is below 10'),
    ({'gce_vm_image': ''}, 'gce_vm_image', '"" is empty'),
    ({'meshbridge_istio_version': 'latest'}, 'istio_control_plane_version', '"latest" is not an Istio release'),
    ({'meshbridge_istio_version': 'v1.30.4'}, 'istio_control_plane_version', '"v1.30.4" is not an Istio release'),
    ({'istio_control_plane_mesh_id': 'Mesh_1'}, 'istio_control_plane_mesh_id', '"Mesh_1" has characters other than'),
    ({'istio_control_plane_trust_domain': 'Cluster.Local'}, 'istio_control_plane_trust_domain', 'is not a DNS-1123 subdomain'),
    ({'istio_control_plane_root_ttl': '10 years'}, 'istio_control_plane_root_ttl', '"10 years" is not a duration'),
    ({'meshbridge_app_namespace': 'Default'}, 'online_boutique_namespace', '"Default" has characters other than'),
    ({'meshbridge_work_dir': 'work'}, 'meshbridge_work_dir', '"work" is not an absolute path'),
    ({'gce_vm_instances': _vms(CATALOG, external_ip=False), 'inventory': 'gcp'}, 'gce_vm_instances[0].external_ip',
     'false leaves the VM without the external address gce_vm_ssh_address=external connects to'),
]


def _refusals(report):
    """Every message of every failed task or loop item of the run."""
    messages = []
    for play in report['plays']:
        for task in play['tasks']:
            outcome = task['hosts'].get('localhost', {})
            for result in outcome.get('results', [outcome]):
                if result.get('failed'):
                    messages += result['msg'] if isinstance(result['msg'], list) else [result['msg']]
    return messages


@pytest.mark.parametrize('overrides, param, rule', REFUSED, ids=['%s-%d' % (row[1], n) for n, row in enumerate(REFUSED)])
def test_each_refused_input_gets_one_message_naming_its_setting_and_rule(run_playbook, tmp_path, overrides, param, rule):
    extra_vars = dict(overrides)
    refused = _validate(run_playbook, tmp_path, extra_vars.pop('inventory', 'lab'), expect_failure=True, **extra_vars)
    messages = _refusals(refused.report)
    assert len(messages) == 1, messages
    assert messages[0].startswith(param + ': '), messages
    assert rule in messages[0], messages
    assert refused.changed() == 0
    # `<setting>: <value> <rule>; <fix>`
    assert re.match(re.escape(param) + r': \S.* .+; \S', messages[0]), messages


@pytest.mark.parametrize('overrides', [
    {'gcp_zone': 'europe-west1-b'},
    {'gcp_zone': 'northamerica-northeast1-c', 'gcp_project': 'a-project-id-of-thirty-chars-x'},
    {'gcp_project': 'abcdef'},
    {'gke_cluster_machine_type': 'e2-standard-4', 'gce_vm_machine_type': 'custom-4-16384'},
    {'gce_vm_instances': _vms(('productcatalogservice', 1), ('cartservice', 65535), name='v' * 56)
     + _vms(('productcatalogservice', 3550), name='second', zone='us-west2-b', machine_type='e2-medium')},
    {'meshbridge_istio_version': '1.31.0-beta.1'},
    {'gke_cluster_cluster_ipv4_cidr': '10.4.0.0/14', 'gke_cluster_services_ipv4_cidr': '10.8.0.0/20'},
])
def test_good_inputs_pass_validation(run_playbook, tmp_path, overrides):
    passed = _validate(run_playbook, tmp_path, 'lab', **overrides)
    assert _refusals(passed.report) == []
    assert passed.changed() == 0


def test_the_lab_inventory_outside_the_lab_is_refused_before_anything_changes(run_playbook, tmp_path):
    refused = _validate(run_playbook, tmp_path, 'lab', expect_failure=True, env={'MESHBRIDGE_LAB_STATE': ''})
    assert 'MESHBRIDGE_LAB_STATE is not set: run site.yml on the lab through `make lab`' in json.dumps(refused.report)
    assert refused.changed() == 0


def test_a_missing_service_account_key_is_refused_before_anything_changes(run_playbook, tmp_path):
    env = dict(_lab_env(tmp_path), GCP_SERVICE_ACCOUNT_FILE=str(tmp_path / 'missing.json'))
    refused = _validate(run_playbook, tmp_path, 'lab', expect_failure=True, env=env)
    message = refused.task("Check the controller's paths and the GCP credentials")['msg']
    assert message == ['gcp_auth_kind: "serviceaccount" needs a service account key file, and %s is not a file; set '
                       'GCP_SERVICE_ACCOUNT_FILE to a key file (`gcloud iam service-accounts keys create key.json '
                       '--iam-account=ACCOUNT`), or run `gcloud auth application-default login` and export '
                       'GCP_AUTH_KIND=application' % (tmp_path / 'missing.json')]
