"""google.cloud's modules and inventory plugin, as shipped, through real ansible-playbook against the stand-in.

These also pin down how those modules behave (check mode, idempotence, operation waits, faults), which the
collection's roles rely on; the facts are the modules' own, seen against an API that answers as GCP does.
"""

import datetime
import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.lab.gcp_lab import PROJECT

BIN = os.path.dirname(sys.executable)
AUTH = '''\
    project: %s
    auth_kind: serviceaccount
    service_account_file: "{{ key_file }}"''' % PROJECT

FIREWALL = '''
- name: Firewall
  google.cloud.gcp_compute_firewall:
    name: allow-mesh
    state: "{{ wanted | default('present') }}"
    allowed:
      - ip_protocol: tcp
        ports: ["8080", "15021"]
    source_ranges: ["10.4.0.0/14"]
    target_tags: [istio-vm]
%s
''' % AUTH

INSTANCE = '''
- name: Instance
  google.cloud.gcp_compute_instance:
    name: istio-gce
    state: "{{ wanted | default('present') }}"
    zone: us-west2-a
    machine_type: e2-medium
    %s
    disks:
      - auto_delete: true
        boot: true
        initialize_params:
          source_image: projects/debian-cloud/global/images/family/debian-12
    network_interfaces:
      - network:
          selfLink: %s
    metadata:
      ssh-keys: "ansible:ssh-ed25519 AAAAC3Nza lab"
    tags:
      items: [istio-vm]
    labels:
      app: productcatalog
%s
'''
FULL_NETWORK = 'https://www.googleapis.com/compute/v1/projects/%s/global/networks/default' % PROJECT
CONVERGING_INSTANCE = INSTANCE % ('deletion_protection: false', FULL_NETWORK, AUTH)

CLUSTER = '''
- name: Cluster
  google.cloud.gcp_container_cluster:
    name: west
    state: "{{ wanted | default('present') }}"
    location: us-west2-a
    initial_node_count: 2
    node_config:
      machine_type: e2-standard-4
    ip_allocation_policy:
      use_ip_aliases: true
%s
''' % AUTH


def _duration(result):
    times = result.get('duration') or {}
    if not times:
        return None
    parse = datetime.datetime.fromisoformat
    return (parse(times['end'].replace('Z', '+00:00')) - parse(times['start'].replace('Z', '+00:00'))).total_seconds()


@pytest.fixture
def playbook(tmp_path, lab_env, key_file):
    """Run tasks on localhost through ansible-playbook; returns (rc, stats, {task name: result})."""

    def run(tasks, *options):
        path = tmp_path / 'playbook.yml'
        path.write_text('- hosts: localhost\n  gather_facts: false\n  tasks:\n' + textwrap.indent(textwrap.dedent(tasks), '    '))
        env = dict(lab_env, ANSIBLE_STDOUT_CALLBACK='ansible.posix.json', ANSIBLE_LOCALHOST_WARNING='false',
                   ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_NOCOLOR='1', ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='true')
        command = [os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', '-e', 'key_file=%s' % key_file,
                   str(path), *options]
        completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300, check=False)
        assert completed.stdout.startswith('{'), completed.stdout + completed.stderr
        report = json.loads(completed.stdout)
        results = {}
        for play in report['plays']:
            for task in play['tasks']:
                results[task['task']['name']] = dict(task['hosts']['localhost'], duration=task['task'].get('duration'))
        return completed.returncode, report['stats']['localhost'], results
    return run


def test_modules_create_converge_skip_check_mode_and_delete(playbook, gcp, backends, session):
    tasks = FIREWALL + CONVERGING_INSTANCE + CLUSTER
    code, stats, results = playbook(tasks)
    assert code == 0, json.dumps(results, indent=1)[-4000:]
    assert stats['changed'] == 3
    assert results['Instance']['networkInterfaces'][0]['networkIP'] == '10.168.0.20'
    assert results['Cluster']['endpoint'] == '127.0.10.1' and results['Cluster']['status'] == 'RUNNING'
    assert backends[1].created[0]['name'] == 'istio-gce' and backends[0].created[0].name == 'west'
    # The cluster module deletes the default node pool right after creating the cluster (its result still shows it).
    assert 'nodePools' not in session.get('https://container.googleapis.com/v1/projects/%s/locations/us-west2-a/clusters/west' % PROJECT).json()
    print('first run task seconds', {name: _duration(result) for name, result in results.items()})

    code, stats, results = playbook(tasks)
    assert code == 0 and stats['changed'] == 0, {name: result.get('changed') for name, result in results.items()}

    # No check mode in google.cloud's resource modules: ansible skips them, predicting nothing.
    code, stats, results = playbook(tasks, '--check')
    assert code == 0 and stats['skipped'] == 3
    assert results['Cluster']['msg'] == 'remote module (google.cloud.gcp_container_cluster) does not support check mode'

    code, stats, results = playbook(tasks, '-e', 'wanted=absent')
    assert code == 0 and stats['changed'] == 3
    assert backends[1].deleted == ['istio-gce'] and [spec.name for spec in backends[0].deleted] == ['west']
    code, stats, results = playbook(tasks, '-e', 'wanted=absent')
    assert code == 0 and stats['changed'] == 0


def test_instance_with_a_partial_network_url_reports_changed_every_run(playbook, gcp, session, caplog):
    tasks = INSTANCE % ('deletion_protection: false', 'global/networks/default', AUTH)
    assert playbook(tasks)[1]['changed'] == 1
    url = 'https://compute.googleapis.com/compute/v1/projects/%s/zones/us-west2-a/instances/istio-gce' % PROJECT
    before = session.get(url).json()
    caplog.set_level('INFO', logger='lab.gcp')
    code, stats, _results = playbook(tasks)
    # The API answers with the network's full URL; the module compares it with the partial one it was given and
    # reports a change on every run. What it sends changes nothing: google.cloud 1.10.2 sent no request at all,
    # 1.15.0 (Ansible 14) sends setTags with the tags the instance already has.
    assert code == 0 and stats['changed'] == 1
    sent = [r.getMessage() for r in caplog.records if '/instances/istio-gce' in r.getMessage() and '"GET' not in r.getMessage()]
    assert all('/instances/istio-gce/setTags ' in line for line in sent), sent
    after = session.get(url).json()
    assert [(each['tags']['items'], each['networkInterfaces'][0]['network'], each['metadata'].get('items'), each['labels'])
            for each in (before, after)] == [(before['tags']['items'], before['networkInterfaces'][0]['network'],
                                              before['metadata'].get('items'), before['labels'])] * 2


def test_quota_errors_fail_the_module_without_retry(playbook, gcp):
    gcp.settings.rate_429 = 1.0
    code, _stats, results = playbook(FIREWALL)
    assert code != 0
    assert results['Firewall']['failed'] and '429' in results['Firewall']['msg']


def test_failed_operation_fails_the_module_with_its_errors(playbook, gcp):
    gcp.operations.fail_next('insert.firewall', 'Injected failure.')
    code, _stats, results = playbook(FIREWALL)
    assert code != 0
    assert results['Firewall']['msg'] == "[{'code': 'INTERNAL_ERROR', 'message': 'Injected failure.'}]"


def test_inventory_plugin_lists_instances_by_private_address(tmp_path, playbook, gcp, lab_env, key_file):
    assert playbook(CONVERGING_INSTANCE)[0] == 0
    config = tmp_path / 'lab.gcp_compute.yml'
    config.write_text(textwrap.dedent('''\
        plugin: google.cloud.gcp_compute
        projects: [%s]
        zones: [us-west2-a]
        auth_kind: serviceaccount
        service_account_file: %s
        filters: ["status = RUNNING"]
        hostnames: [name]
        compose:
          ansible_host: networkInterfaces[0].networkIP
        keyed_groups:
          - key: labels.app
            prefix: app
        ''' % (PROJECT, key_file)))
    env = dict(lab_env, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='true', ANSIBLE_INVENTORY_ENABLED='google.cloud.gcp_compute')
    completed = subprocess.run([os.path.join(BIN, 'ansible-inventory'), '-i', str(config), '--list'], capture_output=True, text=True,
                               env=env, timeout=120, check=True)
    inventory = json.loads(completed.stdout)
    assert inventory['app_productcatalog']['hosts'] == ['istio-gce']
    host = inventory['_meta']['hostvars']['istio-gce']['ansible_host']
    # ansible-inventory marks templated values unsafe in its JSON.
    assert (host.get('__ansible_unsafe') if isinstance(host, dict) else host) == '10.168.0.20'
