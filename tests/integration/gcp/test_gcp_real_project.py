"""What a real project does that the API schemas do not show, played by the GCP stand-in, through real
ansible-playbook: GKE busy with operations of its own, surge nodes, logging and monitoring only together, Compute
Engine's 403 rate limits, a new project's small quotas, and OS Login (issue 13)."""

import json
import os

from tests.integration.gcp.test_gcp_roles import (  # pylint: disable=import-error
    CLUSTER_CHECK, CLUSTER_TASK, PLAYBOOK, VMS_TASK, module_results, refusals, role_vars)
from tests.lab.gcp_lab import PROJECT

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CONTAINER = 'https://container.googleapis.com/v1/projects/%s/locations/us-west2-a/' % PROJECT

CLUSTER = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/meshbridge.istio_vm.gcp:
      project: %s
      auth_kind: serviceaccount
  tasks:
%%s
""" % PROJECT


def cluster_task(name, check_mode=False, **params):
    args = dict({'name': 'west', 'location': 'us-west2-a', 'node_count': 2, 'machine_type': 'e2-medium',
                 'disk_size_gb': 50, 'operation_timeout': 120}, **params)
    return ('    - name: %s\n      meshbridge.istio_vm.container_cluster: %s\n      register: result\n%s'
            % (name, json.dumps(args), '      check_mode: true\n' if check_mode else ''))


def test_a_cluster_gke_upgrades_right_after_creation_is_compared_and_resized_once_gke_is_done(run_playbook, gcp_lab):
    # GKE starts a node upgrade of its own as the creation ends; it lasts 10 s here, longer than the next two tasks
    # take to start.
    gcp_lab.gcp.settings.gke_operation_after_create = 'UPGRADE_NODES'
    gcp_lab.gcp.settings.durations['UPGRADE_NODES'] = 2500.0
    result = run_playbook(CLUSTER % ''.join([
        cluster_task('Create'),
        cluster_task('Compare during the upgrade', check_mode=True),
        cluster_task('Resize', node_count=3)]), env=gcp_lab.env)
    # During the surge upgrade the deprecated currentNodeCount says 3; the pool's instance group says 2.
    predicted = result.task('Compare during the upgrade')
    assert predicted['cluster']['currentNodeCount'] == 3
    assert predicted['changed'] is False and predicted['diff']['before']['nodeCount'] == 2
    resized = result.task('Resize')
    assert resized['changed'] is True and resized['changed_fields'] == ['nodeCount']
    upgrade = [record for record in resized['operations'] if record['type'] == 'UPGRADE_NODES']
    assert len(upgrade) == 1 and upgrade[0]['status'] == 'DONE' and upgrade[0]['target'].endswith('/default-pool')
    assert any('cluster west was busy with operation %s (UPGRADE_NODES' % upgrade[0]['operation'] in warning
               for warning in resized['warnings'])
    pool = gcp_lab.get(CONTAINER + 'clusters/west/nodePools/default-pool')
    assert gcp_lab.get(pool['instanceGroupUrls'][0])['targetSize'] == 3 and pool['initialNodeCount'] == 2


def test_teardown_of_a_cluster_gke_is_busy_with_waits_for_it(run_playbook, gcp_lab):
    gcp_lab.gcp.settings.gke_operation_after_create = 'UPGRADE_NODES'
    gcp_lab.gcp.settings.durations['UPGRADE_NODES'] = 2500.0
    result = run_playbook(CLUSTER % ''.join([cluster_task('Create'), cluster_task('Delete', state='absent')]),
                          env=gcp_lab.env)
    deleted = result.task('Delete')
    assert deleted['changed'] is True and gcp_lab.get(CONTAINER + 'clusters/west') is None
    assert [record['type'] for record in deleted['operations']] == ['UPGRADE_NODES', 'DELETE_CLUSTER']
    assert [spec.name for spec in gcp_lab.clusters.deleted] == ['west']


def test_logging_and_monitoring_are_turned_off_in_one_update(run_playbook, gcp_lab):
    result = run_playbook(CLUSTER % ''.join([
        cluster_task('Create'), cluster_task('Turn both off', cloud_logging=False, cloud_monitoring=False)]),
        env=gcp_lab.env)
    assert result.task('Turn both off')['changed_fields'] == ['loggingService', 'monitoringService']
    cluster = gcp_lab.get(CONTAINER + 'clusters/west')
    assert (cluster['loggingService'], cluster['monitoringService']) == ('none', 'none')
    updates = [call for call in gcp_lab.calls if call[0] == 'PUT' and call[2].endswith('/clusters/west')]
    assert len(updates) == 1


def test_logging_without_monitoring_is_refused_by_the_role_before_any_call(run_playbook, gcp_lab, tmp_path):
    refused = run_playbook(PLAYBOOK, extra_vars=role_vars(tmp_path, gke_cluster_enable_cloud_monitoring=False),
                           env=gcp_lab.env, expect_failure=True)
    assert refusals(refused, CLUSTER_CHECK) == [
        'gke_cluster_enable_cloud_logging: true differs from gke_cluster_enable_cloud_monitoring (false); GKE takes the '
        'Kubernetes logging and monitoring services only together, set both to true or both to false']
    assert gcp_lab.calls == []


def test_compute_rate_limit_403s_are_retried_and_the_roles_converge(run_playbook, gcp_lab, tmp_path):
    gcp_lab.gcp.settings.rate_403 = 0.25
    first = run_playbook(PLAYBOOK, extra_vars=role_vars(tmp_path), env=gcp_lab.env)
    retried = [entry for item in module_results(first, VMS_TASK) for entry in item.get('api_retries', [])]
    assert retried and all(entry['cause'] == '403 rateLimitExceeded' for entry in retried)
    assert first.task(CLUSTER_TASK)['changed'] is True
    gcp_lab.gcp.settings.rate_403 = 0.0  # the test's own reads are not under test
    assert gcp_lab.get('https://compute.googleapis.com/compute/v1/projects/%s/zones/us-west2-a/instances/istio-gce'
                       % PROJECT)['status'] == 'RUNNING'


# -- the cluster stage on a project that cannot take it ----------------------------------------------------------------

STAGE = '- ansible.builtin.import_playbook: %s\n' % os.path.join(REPO, 'playbooks', 'cluster.yml')
REFUSAL = 'meshbridge.istio_vm.gke_cluster : Refuse the run when the project cannot take it'
# No Kubernetes API and no VM behind the recording backends.
STAGE_VARS = {'gke_cluster_admin_binding': False, 'gce_vm_wait_for_ssh': False}


def run_stage(run_playbook, gcp_lab, check=False, expect_failure=False, **extra_vars):
    return run_playbook(STAGE, inventory=os.path.join(REPO, 'inventories', 'lab'), env=gcp_lab.env, check=check,
                        extra_vars=dict(STAGE_VARS, **extra_vars), expect_failure=expect_failure)


def test_the_cluster_stage_refuses_a_project_short_of_quota_before_anything_is_made(run_playbook, gcp_lab):
    # A new project's 500 GB of SSD_TOTAL_GB: five 100 GB pd-balanced nodes and the VM's 10 GB need 510.
    gcp_lab.gcp.settings.quotas['SSD_TOTAL_GB'] = 500.0
    refused = run_stage(run_playbook, gcp_lab, expect_failure=True)
    message = refused.task(REFUSAL)['msg']
    assert ('SSD_TOTAL_GB in us-west2: needs 510 GB (cluster west: 5 nodes x 100 GB pd-balanced; VM istio-gce: 10 GB '
            'pd-balanced), 500 GB of the 500 GB limit available (0 in use)') in message
    assert 'so nothing was created' in message and 'gke_cluster_disk_size' in message and 'pd-standard' in message
    assert gcp_lab.mutations() == []
    assert not os.path.exists(os.path.join(gcp_lab.env['MESHBRIDGE_LAB_STATE'], 'ssh', 'id_ed25519'))

    # The fix the message names: standard disks for the nodes (counted against DISKS_TOTAL_GB).
    made = run_stage(run_playbook, gcp_lab, gke_cluster_disk_type='pd-standard')
    assert made.task(CLUSTER_TASK)['changed'] is True
    pool = gcp_lab.get(CONTAINER + 'clusters/west')['nodePools'][0]
    assert pool['config']['diskType'] == 'pd-standard'


def test_the_cluster_stage_refuses_os_login_before_anything_is_made(run_playbook, gcp_lab):
    # The project's metadata says enable-oslogin=TRUE, as under the policy constraints/compute.requireOsLogin.
    gcp_lab.gcp.settings.os_login = True
    refused = run_stage(run_playbook, gcp_lab, expect_failure=True)
    message = refused.task(REFUSAL)['msg']
    assert message.startswith('OS Login is enabled for istio-gce (enable-oslogin=TRUE in the project metadata): such a '
                              'VM ignores the ssh-keys metadata')
    assert 'Permission denied (publickey)' in message and 'enable-oslogin: "FALSE"' in message
    assert gcp_lab.mutations() == []
    assert not os.path.exists(os.path.join(gcp_lab.env['MESHBRIDGE_LAB_STATE'], 'ssh', 'id_ed25519'))

    # The VM's own metadata overrides the project's: a check run then gets past the pre-flight.
    checked = run_stage(run_playbook, gcp_lab, check=True, gce_vm_metadata={
        'ssh-keys': 'meshbridge:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA lab', 'enable-oslogin': 'FALSE'})
    assert checked.task(REFUSAL).get('skipped') is True
    assert gcp_lab.mutations() == []
