"""The gke_cluster and gce_vm roles and the lab inventory, through real ansible-playbook, against the GCP stand-in
behind the lab internet (real URLs, lab CA, lab service account key)."""

import json
import os

import yaml

from tests.lab.gcp_lab import PROJECT

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
COMPUTE = 'https://compute.googleapis.com/compute/v1/projects/%s/' % PROJECT
CONTAINER = 'https://container.googleapis.com/v1/projects/%s/locations/us-west2-a/' % PROJECT

# The roles as site.yml uses them: VM creation started before the cluster so the two overlap, after both
# roles' inputs are checked.
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Check the cluster settings
      ansible.builtin.include_role:
        name: meshbridge.istio_vm.gke_cluster
        tasks_from: validate
    - name: Start the VMs
      ansible.builtin.include_role:
        name: meshbridge.istio_vm.gce_vm
        tasks_from: start
    - name: Cluster
      ansible.builtin.include_role:
        name: meshbridge.istio_vm.gke_cluster
    - name: VMs and firewall
      ansible.builtin.include_role:
        name: meshbridge.istio_vm.gce_vm
      vars:
        gce_vm_pod_cidr: "{{ gke_cluster_pod_cidr }}"
    - name: Outputs
      ansible.builtin.debug:
        msg:
          endpoint: "{{ gke_cluster_endpoint }}"
          pod_cidr: "{{ gke_cluster_pod_cidr }}"
          service_cidr: "{{ gke_cluster_service_cidr }}"
          addresses: "{{ gce_vm_addresses | default({}) }}"
"""


# Task names as the json callback reports them: role-prefixed, templated.
CLUSTER_TASK = 'meshbridge.istio_vm.gke_cluster : Ensure the GKE cluster is present'
WAIT_TASK = "meshbridge.istio_vm.gke_cluster : Wait for the cluster's operation"
FINISH_TASK = 'meshbridge.istio_vm.gke_cluster : Finish the GKE cluster once its operation is done'
VMS_TASK = 'meshbridge.istio_vm.gce_vm : Wait for the VMs to be present'
FIREWALL_TASK = "meshbridge.istio_vm.gce_vm : Ensure the firewall rule from the pod range to each VM's service ports is present"


def role_vars(tmp_path, **overrides):
    result = {
        'gke_cluster_project': PROJECT, 'gke_cluster_auth_kind': 'serviceaccount',
        'gke_cluster_kubeconfig': str(tmp_path / 'kubeconfig'),
        # No Kubernetes API behind the recording backend: the binding is for the lab's real control plane.
        'gke_cluster_admin_binding': False,
        'gce_vm_project': PROJECT, 'gce_vm_auth_kind': 'serviceaccount', 'gce_vm_ssh_address': 'internal',
        # No VM boots behind the recording backend: nothing answers SSH.
        'gce_vm_wait_for_ssh': False,
    }
    result.update(overrides)
    return result


def module_results(result, task_name):
    """The per-item results of a looped task (or the task's own result)."""
    outcome = result.task(task_name)
    return outcome.get('results', [outcome])


# The validate entry points' checks: each refusal is a list of messages, one per setting.
CLUSTER_CHECK = 'meshbridge.istio_vm.gke_cluster : Check the cluster settings'
VM_CHECK = 'meshbridge.istio_vm.gce_vm : Check each VM'


def refusals(result, task_name):
    """The messages of a validate check's failed results."""
    return [message for item in module_results(result, task_name) if item.get('failed') for message in item['msg']]


def test_roles_create_then_a_second_run_changes_nothing(run_playbook, gcp_lab, tmp_path):
    other = {'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'prod',
             'clusters': [{'name': 'prod', 'cluster': {'server': 'https://prod.example'}}],
             'users': [{'name': 'prod', 'user': {'token': 'keep-me'}}],
             'contexts': [{'name': 'prod', 'context': {'cluster': 'prod', 'user': 'prod'}}]}
    (tmp_path / 'kubeconfig').write_text(yaml.safe_dump(other))

    first = run_playbook(PLAYBOOK, extra_vars=role_vars(tmp_path), env=gcp_lab.env)
    assert first.changed() >= 4  # cluster, kubeconfig, firewall, instance
    outputs = first.task('Outputs')['msg']
    cluster = gcp_lab.get(CONTAINER + 'clusters/west')
    assert outputs['endpoint'] == cluster['endpoint'] == '127.0.10.1'
    assert outputs['pod_cidr'] == cluster['clusterIpv4Cidr'] and outputs['service_cidr'] == cluster['servicesIpv4Cidr']
    assert cluster['ipAllocationPolicy']['useIpAliases'] is True
    assert cluster['releaseChannel']['channel'] == 'REGULAR'
    pool = cluster['nodePools'][0]
    assert (pool['initialNodeCount'], pool['config']['machineType'], pool['config']['diskSizeGb']) == (5, 'n1-standard-2', 100)
    assert cluster['loggingService'] == 'logging.googleapis.com/kubernetes'
    # gcloud's gke-default scopes, not cloud-platform (the node account's project roles for every pod).
    assert 'https://www.googleapis.com/auth/cloud-platform' not in pool['config']['oauthScopes']
    assert 'https://www.googleapis.com/auth/devstorage.read_only' in pool['config']['oauthScopes']

    rule = gcp_lab.get(COMPUTE + 'global/firewalls/k8s-to-istio-gce')
    assert rule['sourceRanges'] == [cluster['clusterIpv4Cidr']]
    assert rule['targetTags'] == ['istio-gce']
    assert rule['allowed'] == [{'IPProtocol': 'tcp', 'ports': ['3550']}]
    instance = gcp_lab.get(COMPUTE + 'zones/us-west2-a/instances/istio-gce')
    assert instance['labels']['meshbridge-role'] == 'mesh-vm' and instance['tags']['items'] == ['istio-gce']
    assert instance['serviceAccounts'][0]['scopes'] == ['https://www.googleapis.com/auth/logging.write',
                                                        'https://www.googleapis.com/auth/monitoring.write']
    assert outputs['addresses'] == {'istio-gce': {'internal': instance['networkInterfaces'][0]['networkIP'],
                                                  'external': instance['networkInterfaces'][0]['accessConfigs'][0]['natIP']}}

    kubeconfig = yaml.safe_load((tmp_path / 'kubeconfig').read_text())
    assert [c['name'] for c in kubeconfig['contexts']] == ['prod', 'west']
    assert kubeconfig['users'][0]['user']['token'] == 'keep-me'
    assert kubeconfig['current-context'] == 'west'
    assert kubeconfig['clusters'][1]['cluster']['server'] == 'https://127.0.10.1'
    assert kubeconfig['users'][1]['user']['exec']['command'] == 'gke-gcloud-auth-plugin'
    assert oct((tmp_path / 'kubeconfig').stat().st_mode & 0o777) == '0o600'

    mutations_before = len(gcp_lab.mutations())
    second = run_playbook(PLAYBOOK, extra_vars=role_vars(tmp_path), env=gcp_lab.env)
    assert second.changed() == 0, json.dumps(second.stats)
    assert len(gcp_lab.mutations()) == mutations_before
    assert len(gcp_lab.vms.created) == 1 and len(gcp_lab.clusters.created) == 1


def test_check_mode_predicts_changes_nothing_and_diff_shows_the_change(run_playbook, gcp_lab, tmp_path):
    predicted = run_playbook(PLAYBOOK, extra_vars=role_vars(tmp_path), env=gcp_lab.env, check=True)
    assert predicted.task(CLUSTER_TASK)['changed'] is True
    assert [item['changed'] for item in module_results(predicted, VMS_TASK)] == [True]
    assert not gcp_lab.mutations()
    assert not (tmp_path / 'kubeconfig').exists()

    run_playbook(PLAYBOOK, extra_vars=role_vars(tmp_path), env=gcp_lab.env)
    # One more service on the VM: its rule must open exactly one more port.
    wider = role_vars(tmp_path, gce_vm_instances=[{'name': 'istio-gce', 'services': [
        {'name': 'productcatalogservice', 'port': 3550}, {'name': 'currencyservice', 'port': 7000}]}])
    mutations_before = len(gcp_lab.mutations())
    predicted = run_playbook(PLAYBOOK, extra_vars=wider, env=gcp_lab.env, check=True, diff=True)
    assert predicted.changed() == 1
    rule_result = module_results(predicted, FIREWALL_TASK)[0]
    # The description names the services, so it changes too.
    assert rule_result['changed_fields'] == ['allowed', 'description']
    assert rule_result['diff']['before']['allowed'] == [{'IPProtocol': 'tcp', 'ports': ['3550']}]
    assert rule_result['diff']['after']['allowed'] == [{'IPProtocol': 'tcp', 'ports': ['3550', '7000']}]
    assert len(gcp_lab.mutations()) == mutations_before

    applied = run_playbook(PLAYBOOK, extra_vars=wider, env=gcp_lab.env)
    assert applied.changed() == 1
    assert gcp_lab.get(COMPUTE + 'global/firewalls/k8s-to-istio-gce')['allowed'] == [
        {'IPProtocol': 'tcp', 'ports': ['3550', '7000']}]


def test_bad_input_is_rejected_before_any_call(run_playbook, gcp_lab, tmp_path):
    bad_name = run_playbook(PLAYBOOK, extra_vars=role_vars(tmp_path, gce_vm_instances=[
        {'name': 'Istio_GCE', 'services': [{'name': 'productcatalogservice', 'port': 3550}]}]),
        env=gcp_lab.env, expect_failure=True)
    assert refusals(bad_name, VM_CHECK) == ['gce_vm_instances[0].name: "Istio_GCE" has characters other than lowercase '
                                            'letters, digits and hyphens; use only a-z, 0-9 and -']
    bad_cidr = run_playbook(PLAYBOOK, extra_vars=role_vars(tmp_path, gke_cluster_cluster_ipv4_cidr='10.4.0.1/33'),
                            env=gcp_lab.env, expect_failure=True)
    assert refusals(bad_cidr, CLUSTER_CHECK) == ['gke_cluster_cluster_ipv4_cidr: "10.4.0.1/33" is not a CIDR range without '
                                                 'host bits; give a range such as 10.4.0.0/14']
    no_services = run_playbook(PLAYBOOK, extra_vars=role_vars(tmp_path, gce_vm_instances=[{'name': 'istio-gce'}]),
                               env=gcp_lab.env, expect_failure=True)
    assert refusals(no_services, VM_CHECK) == ['gce_vm_instances[0].services: [] is empty; place at least one Online '
                                               'Boutique service on the VM, such as {name: productcatalogservice, port: 3550}']
    assert bad_name.changed() == bad_cidr.changed() == no_services.changed() == 0
    assert gcp_lab.calls == []


def test_injected_503s_still_converge(run_playbook, gcp_lab, tmp_path):
    gcp_lab.gcp.settings.rate_503 = 0.2
    first = run_playbook(PLAYBOOK, extra_vars=role_vars(tmp_path), env=gcp_lab.env)
    retried = [entry for name in (CLUSTER_TASK, WAIT_TASK, FINISH_TASK, VMS_TASK)
               for item in module_results(first, name) for entry in item.get('api_retries', [])]
    assert retried and all(entry['cause'] == 503 for entry in retried)
    second = run_playbook(PLAYBOOK, extra_vars=role_vars(tmp_path), env=gcp_lab.env)
    assert second.changed() == 0
    gcp_lab.gcp.settings.rate_503 = 0.0  # the test's own reads are not under test
    assert gcp_lab.get(CONTAINER + 'clusters/west')['status'] == 'RUNNING'
    assert gcp_lab.get(COMPUTE + 'zones/us-west2-a/instances/istio-gce')['status'] == 'RUNNING'


def test_failed_operation_is_reported_clearly_and_the_next_run_converges(run_playbook, gcp_lab, tmp_path):
    gcp_lab.gcp.operations.fail_next('CREATE_CLUSTER', message='Insufficient regional quota to satisfy request.')
    failed = run_playbook(PLAYBOOK, extra_vars=role_vars(tmp_path), env=gcp_lab.env, expect_failure=True)
    # The creation was started; its operation's error fails the wait, on its first line after the failure.
    assert failed.task(CLUSTER_TASK)['changed'] is True
    waits = module_results(failed, WAIT_TASK)
    outcome = waits[-1]
    assert outcome['failed'] and not any(item.get('failed') for item in waits[:-1])
    assert 'CREATE_CLUSTER on https://container.googleapis.com/v1/projects/meshbridge-lab/' in outcome['msg']
    assert outcome['msg'].endswith('failed: 13: Insufficient regional quota to satisfy request.')
    converged = run_playbook(PLAYBOOK, extra_vars=role_vars(tmp_path), env=gcp_lab.env)
    assert converged.task(CLUSTER_TASK)['changed'] is True
    assert gcp_lab.get(CONTAINER + 'clusters/west')['status'] == 'RUNNING'


def test_lab_inventory_lists_the_instance_in_the_mesh_vm_group(run_playbook, gcp_lab, tmp_path):
    run_playbook(PLAYBOOK, extra_vars=role_vars(tmp_path), env=gcp_lab.env)
    # A play on the group, as site.yml runs the VM roles; debug needs no connection to the VM.
    listed = run_playbook("""
        - hosts: mesh_vms
          gather_facts: false
          tasks:
            - name: Show how the inventory sees the VM
              ansible.builtin.debug:
                msg:
                  address: "{{ ansible_host }}"
                  groups: "{{ group_names }}"
                  services: "{{ gce_vm_instances[0].services }}"
    """, inventory=os.path.join(REPO, 'inventories', 'lab'), env=gcp_lab.env)
    assert list(listed.stats) == ['istio-gce']
    seen = listed.task('Show how the inventory sees the VM', host='istio-gce')['msg']
    instance = gcp_lab.get(COMPUTE + 'zones/us-west2-a/instances/istio-gce')
    assert seen['address'] == instance['networkInterfaces'][0]['networkIP']
    assert 'mesh_vms' in seen['groups']
    # The inventory's group_vars come along for plays on the VMs.
    assert seen['services'] == [{'name': 'productcatalogservice', 'port': 3550}]


def test_state_absent_removes_what_the_roles_made_and_keeps_other_contexts(run_playbook, gcp_lab, tmp_path):
    (tmp_path / 'kubeconfig').write_text(yaml.safe_dump({
        'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'prod',
        'clusters': [{'name': 'prod', 'cluster': {'server': 'https://prod.example'}}],
        'users': [{'name': 'prod', 'user': {'token': 'keep-me'}}],
        'contexts': [{'name': 'prod', 'context': {'cluster': 'prod', 'user': 'prod'}}]}))
    run_playbook(PLAYBOOK, extra_vars=role_vars(tmp_path), env=gcp_lab.env)
    absent = role_vars(tmp_path, gke_cluster_state='absent', gce_vm_state='absent')
    removed = run_playbook(PLAYBOOK, extra_vars=absent, env=gcp_lab.env)
    assert removed.changed() == 4  # cluster, kubeconfig entry, firewall rule, instance
    # The recorded cluster has no API to list Services on: it is deleted anyway, with a warning.
    warned = removed.task('meshbridge.istio_vm.gke_cluster : Say that the load balancers could not be deleted first')
    assert 'may outlive the cluster' in warned['msg']
    assert gcp_lab.get(CONTAINER + 'clusters/west') is None
    assert gcp_lab.get(COMPUTE + 'global/firewalls/k8s-to-istio-gce') is None
    assert gcp_lab.get(COMPUTE + 'zones/us-west2-a/instances/istio-gce') is None
    # The network's default rules are not the roles' to remove.
    assert gcp_lab.get(COMPUTE + 'global/firewalls/default-allow-ssh') is not None
    kubeconfig = yaml.safe_load((tmp_path / 'kubeconfig').read_text())
    assert [c['name'] for c in kubeconfig['contexts']] == ['prod']
    assert run_playbook(PLAYBOOK, extra_vars=absent, env=gcp_lab.env).changed() == 0


def test_static_token_goes_to_the_kubeconfig_only(run_playbook, gcp_lab, tmp_path):
    secret = 'lab-static-token-5f1c'
    result = run_playbook("""
        - hosts: localhost
          gather_facts: false
          roles:
            - role: meshbridge.istio_vm.gke_cluster
    """, extra_vars=role_vars(tmp_path, gke_cluster_kubeconfig_auth='token', gke_cluster_kubeconfig_token=secret),
                          env=gcp_lab.env, diff=True)
    assert secret not in json.dumps(result.report) and secret not in result.stderr
    path = tmp_path / 'kubeconfig'
    assert yaml.safe_load(path.read_text())['users'][0]['user'] == {'token': secret}
    assert oct(path.stat().st_mode & 0o777) == '0o600'
