"""The cloud side end to end on the assembled lab, as a user drives it: the gke_cluster and gce_vm roles through real
ansible-playbook make a cluster (a Kubernetes API the kubeconfig opens) and a VM (reached over SSH through the lab
inventory, behind the firewall rule the role made); a second run changes nothing; teardown leaves nothing behind.

The controller link is in the host namespace (as ``lab up`` puts it) so Ansible on this host reaches the VM: only one
such lab can run at a time.
"""

import json
import os
import subprocess
import time

import pytest

from lab.net import netns
from tests.lab.vm_lab import running_world

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROJECT = 'meshbridge-lab'
SERVICE_PORT = 3550
CLOSED_PORT = 3551

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Cluster
      ansible.builtin.include_role:
        name: meshbridge.istio_vm.gke_cluster
    - name: VMs and firewall
      ansible.builtin.include_role:
        name: meshbridge.istio_vm.gce_vm
      vars:
        gce_vm_pod_cidr: "{{ gke_cluster_pod_cidr | default('') }}"
    - name: Outputs
      ansible.builtin.debug:
        msg:
          pod_cidr: "{{ gke_cluster_pod_cidr | default('') }}"
          addresses: "{{ gce_vm_addresses | default({}) }}"
"""

CHANGED_BY_CREATE = [
    'Ensure the GKE cluster is present', 'Ensure the kubeconfig context of the cluster is present',
    'Bind cluster-admin to meshbridge-lab@meshbridge-lab.iam.gserviceaccount.com',
    "Ensure the firewall rule from the pod range to each VM's service ports is present", 'Wait for the VMs to be present',
]
CHANGED_BY_TEARDOWN = [
    'Delete each Service of type LoadBalancer and wait until its load balancer is gone', 'Ensure the GKE cluster is absent',
    'Ensure the kubeconfig context of the cluster is absent',
    "Ensure the firewall rule from the pod range to each VM's service ports is absent", 'Wait for the VMs to be absent',
]


@pytest.fixture
def world(tmp_path):
    with running_world(str(tmp_path / 'lab'), isolated_controller=False, time_scale=0.01) as started:
        yield started


def _lab_env(lab, home):
    # A HOME of the test's own: gke-gcloud-auth-plugin caches its token in ~/.kube, and a token an earlier lab
    # issued is one this lab's API servers rightly refuse. It also differs from the account's home, as on CI
    # runners, where async_status would look for gce_vm's jobs elsewhere than they are written without
    # gce_vm_async_dir (ansible/ansible#81805).
    return dict(lab.gcp.env, GCP_PROJECT=PROJECT, GCP_AUTH_KIND='serviceaccount', GCP_SERVICE_ACCOUNT_FILE=lab.gcp.key_file,
                HOME=home, KUBECACHEDIR=os.path.join(home, 'kube-cache'))


def _run(env, *command, input=None):  # noqa: A002 (subprocess's name)
    completed = subprocess.run(list(command), env=dict(os.environ, **env), capture_output=True, text=True, timeout=120,
                               check=False, input=input)
    assert completed.returncode == 0, '%s failed:\n%s' % (' '.join(command), completed.stderr)
    return completed.stdout


def _gcloud(env, *args):
    listed = _run(env, 'gcloud', *args, '--format=json', '--verbosity=error')
    return json.loads(listed) if listed.strip() else []


def _role_vars(tmp_path, public_key):
    return {
        'gke_cluster_project': PROJECT, 'gke_cluster_auth_kind': 'serviceaccount',
        'gke_cluster_kubeconfig': str(tmp_path / 'kubeconfig'), 'gke_cluster_num_nodes': 1,
        'gce_vm_project': PROJECT, 'gce_vm_auth_kind': 'serviceaccount', 'gce_vm_ssh_address': 'internal',
        'gce_vm_metadata': {'ssh-keys': 'ops:' + public_key}, 'gce_vm_wait_for_ssh': True, 'gce_vm_ssh_timeout': 120,
    }


def _changed_tasks(result):
    """Names (without the role prefix) of the tasks that changed something, in play order."""
    return [task['task']['name'].split(' : ', 1)[-1] for play in result.report['plays'] for task in play['tasks']
            if any(outcome.get('changed') for outcome in task['hosts'].values())]


def _timed(run, *args, **kwargs):
    started = time.monotonic()
    result = run(*args, **kwargs)
    return result, time.monotonic() - started


def test_roles_make_a_reachable_cluster_and_vm_and_remove_them(world, run_playbook, tmp_path, record_property):
    lab, names = world
    (tmp_path / 'home').mkdir()
    env = _lab_env(lab, str(tmp_path / 'home'))
    key = str(tmp_path / 'ops')
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', key], check=True)
    with open(key + '.pub', encoding='ascii') as handle:
        public_key = handle.read().strip()
    # The kubeconfig's gke-gcloud-auth-plugin gets its token from gcloud's active account.
    _run(env, 'gcloud', 'auth', 'activate-service-account', '--key-file', lab.gcp.key_file, '--verbosity=error')
    role_vars = _role_vars(tmp_path, public_key)

    created, create_seconds = _timed(run_playbook, PLAYBOOK, extra_vars=role_vars, env=env)
    assert _changed_tasks(created) == CHANGED_BY_CREATE, json.dumps(created.stats)
    outputs = created.task('Outputs')['msg']
    vm_address = outputs['addresses']['istio-gce']['internal']
    [ssh_wait] = created.task('meshbridge.istio_vm.gce_vm : Wait until SSH answers on each VM')['results']
    assert not ssh_wait.get('skipped') and not ssh_wait.get('failed') and 'elapsed' in ssh_wait, ssh_wait

    instances = _gcloud(env, 'compute', 'instances', 'list')
    assert [(vm['name'], vm['status']) for vm in instances] == [('istio-gce', 'RUNNING')]
    clusters = _gcloud(env, 'container', 'clusters', 'list')
    assert [(cluster['name'], cluster['status']) for cluster in clusters] == [('west', 'RUNNING')]
    assert clusters[0]['clusterIpv4Cidr'] == outputs['pod_cidr']
    kubeconfig = ['kubectl', '--kubeconfig', role_vars['gke_cluster_kubeconfig'], '--context', 'west']
    assert 'namespace/default' in _run(env, *kubeconfig, 'get', 'namespaces', '-o', 'name').split()
    binding = json.loads(_run(env, *kubeconfig, 'get', 'clusterrolebinding', 'user-admin-binding', '-o', 'json'))
    assert binding['roleRef']['name'] == 'cluster-admin'
    assert [subject['name'] for subject in binding['subjects']] == [lab.gcp.account]

    again, rerun_seconds = _timed(run_playbook, PLAYBOOK, extra_vars=role_vars, env=env)
    assert all(stats['changed'] == 0 for stats in again.stats.values()), json.dumps(again.stats)

    # The VM through the lab inventory's mesh_vms group, over SSH with the key the role put in its metadata (as
    # extra vars: the inventory's own SSH settings name the key site.yml makes).
    pinged = run_playbook("""
        - hosts: mesh_vms
          gather_facts: false
          tasks:
            - name: Reach the VM over SSH
              ansible.builtin.ping:
    """, inventory=os.path.join(REPO, 'inventories', 'lab'), extra_vars={
        'ansible_user': 'ops', 'ansible_ssh_private_key_file': key,
        'ansible_ssh_common_args': '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'},
        env=dict(env, ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED='true'))
    assert list(pinged.stats) == ['istio-gce']
    assert pinged.task('Reach the VM over SSH', host='istio-gce')['ping'] == 'pong'

    # The firewall rule admits the pod range to the service port only: nothing listens on the VM, so an admitted
    # connection is refused by the VM and a blocked one is dropped (times out), as GCE drops it.
    cluster_network = lab.fleet.vpc.cluster('west')
    pod = cluster_network.pod_address
    with pytest.raises(ConnectionRefusedError):
        netns.connect_tcp(cluster_network.netns, vm_address, SERVICE_PORT, source=pod, timeout=3).close()
    with pytest.raises(TimeoutError):
        netns.connect_tcp(cluster_network.netns, vm_address, CLOSED_PORT, source=pod, timeout=1.5).close()

    # A Service of type LoadBalancer, as Istio's gateways are: deleted (and its load balancer with it) before the cluster.
    gateway = {'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': 'gateway', 'namespace': 'default'},
               'spec': {'type': 'LoadBalancer', 'selector': {'app': 'gateway'}, 'ports': [{'port': 443}]}}
    _run(env, *kubeconfig, 'create', '-f', '-', input=json.dumps(gateway))

    absent = dict(role_vars, gke_cluster_state='absent', gce_vm_state='absent')
    removed, teardown_seconds = _timed(run_playbook, PLAYBOOK, extra_vars=absent, env=env)
    assert _changed_tasks(removed) == CHANGED_BY_TEARDOWN, json.dumps(removed.stats)
    deleted = removed.task('meshbridge.istio_vm.gke_cluster : Delete each Service of type LoadBalancer and wait until '
                           'its load balancer is gone')['results']
    assert [result['item']['metadata']['name'] for result in deleted if result['changed']] == ['gateway']
    assert _gcloud(env, 'compute', 'instances', 'list') == []
    assert _gcloud(env, 'container', 'clusters', 'list') == []
    made_rules = [rule['name'] for rule in _gcloud(env, 'compute', 'firewall-rules', 'list')
                  if rule['name'].startswith('k8s-to-')]
    assert made_rules == []
    assert not lab.fleet.names() and not lab.fleet.vpc.clusters()

    timings = {'create': round(create_seconds, 1), 'no-change re-run': round(rerun_seconds, 1),
               'teardown': round(teardown_seconds, 1)}
    record_property('wall_seconds', timings)
    print('\nlab cloud e2e wall times (s):', json.dumps(timings))
