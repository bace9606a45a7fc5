"""gke_cluster's progress while GKE creates the cluster, through real ansible-playbook against the GCP stand-in
(the gcp_lab fixture of conftest.py): a line per gke_cluster_progress_interval with the operation's status and
age, the creation counted once in the recap, and a creation left running by a killed run waited for, not started
again. The loop's plumbing without any stand-in: tests/integration/test_gke_cluster_wait_loop.py."""

from tests.integration.gcp.test_gcp_roles import CLUSTER_TASK, PLAYBOOK, module_results, role_vars

WAIT_TASK = "meshbridge.istio_vm.gke_cluster : Wait for the cluster's operation"
FINISH_TASK = 'meshbridge.istio_vm.gke_cluster : Finish the GKE cluster once its operation is done'


def test_a_slow_creation_shows_its_progress_and_the_recap_counts_it_once(run_playbook, gcp_lab, tmp_path):
    # The creation takes about 10 s (330 s x 0.03); the wait says where it is every second. How many lines that
    # makes depends on how long each look's module start-up takes on a busy machine: at least one while it runs.
    gcp_lab.gcp.settings.time_scale = 0.03
    first = run_playbook(PLAYBOOK, extra_vars=role_vars(tmp_path, gke_cluster_progress_interval=1), env=gcp_lab.env)
    waits = module_results(first, WAIT_TASK)
    assert len(waits) >= 2 and 'is RUNNING' in waits[0]['msg'], waits
    assert all('(CREATE_CLUSTER on west) is ' in item['msg'] and ' s since it started' in item['msg']
               and not item['changed'] for item in waits)
    assert [item['done'] for item in waits] == [False] * (len(waits) - 1) + [True]
    assert first.task(CLUSTER_TASK)['changed'] is True and first.task(FINISH_TASK)['changed'] is False
    assert len(gcp_lab.clusters.created) == 1
    assert first.task('Outputs')['msg']['endpoint'] == '127.0.10.1'

    second = run_playbook(PLAYBOOK, extra_vars=role_vars(tmp_path), env=gcp_lab.env)
    assert second.changed() == 0
    assert module_results(second, WAIT_TASK) == [] or second.task(WAIT_TASK).get('skipped')


def test_a_creation_left_running_by_a_killed_run_is_waited_for_not_started_again(run_playbook, gcp_lab, tmp_path):
    # The creation takes about 33 s (330 s x 0.1): the resumed run must reach the cluster task while it still
    # runs, and on a busy machine the run's start and the role's earlier tasks took over 5 s (a CI run failed so).
    gcp_lab.gcp.settings.time_scale = 0.1
    # What a run killed right after starting the creation leaves: the operation running, nobody waiting.
    started = run_playbook("""
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: Start the creation only
              meshbridge.istio_vm.container_cluster:
                project: "{{ gke_cluster_project }}"
                auth_kind: serviceaccount
                name: west
                location: us-west2-a
                node_count: 5
                machine_type: n1-standard-2
                wait: false
              register: started
    """, extra_vars=role_vars(tmp_path), env=gcp_lab.env)
    operation = started.task('Start the creation only')['operation']
    assert operation['operationType'] == 'CREATE_CLUSTER' and operation['status'] != 'DONE'

    resumed = run_playbook(PLAYBOOK, extra_vars=role_vars(tmp_path, gke_cluster_progress_interval=1),
                           env=gcp_lab.env)
    assert resumed.task(CLUSTER_TASK)['changed'] is False
    assert resumed.task(CLUSTER_TASK)['operation']['name'] == operation['name']
    waits = module_results(resumed, WAIT_TASK)
    assert waits[-1]['done'] and all(item['operation']['name'] == operation['name'] for item in waits)
    assert len(gcp_lab.clusters.created) == 1
    assert len([call for call in gcp_lab.mutations() if call[2].endswith('/clusters')]) == 1
    assert resumed.task('Outputs')['msg']['endpoint'] == '127.0.10.1'
