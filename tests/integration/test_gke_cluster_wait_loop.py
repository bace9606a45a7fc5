"""gke_cluster's wait for the cluster's operation, as a user watching ansible-playbook sees it: the role's own task,
run by real ansible-playbook with the default output, with container_operation_info replaced by a fake operation
that is DONE (or fails) at the call a test chooses. No GCP stand-in and no lab: the loop's plumbing (the label
shown per call, break_when, the bound, failing on the last call only) is under test; the module's waiting is in
tests/unit/plugins/module_utils/gcp/test_operation_progress.py."""

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WAIT_TASK = "Wait for the cluster's operation"

# Stands in for container_operation_info: each call is one more look at an operation that is DONE at call
# ``done_at`` (or fails then, with ``error``); the calls and the arguments each got are written to the state file.
FAKE_MODULE = '''#!/usr/bin/python
import json
import os

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(
        name=dict(type='str', required=True), location=dict(type='str', required=True),
        project=dict(type='str'), auth_kind=dict(type='str'), service_account_file=dict(type='path'),
        wait_timeout=dict(type='int', default=25), fail_on_timeout=dict(type='bool', default=True)))
    path = os.environ['FAKE_OPERATION_STATE']
    with open(path) as handle:
        state = json.load(handle)
    state['calls'].append({'name': module.params['name'], 'wait_timeout': module.params['wait_timeout'],
                           'fail_on_timeout': module.params['fail_on_timeout']})
    with open(path, 'w') as handle:
        json.dump(state, handle)
    call = len(state['calls'])
    done = state['done_at'] is not None and call >= state['done_at']
    line = 'operation %s (CREATE_CLUSTER on west) is %s, %d s since it started' % (
        module.params['name'], 'DONE' if done else 'RUNNING', call * module.params['wait_timeout'])
    if done and state.get('error'):
        module.fail_json(msg='operation %s failed: %s' % (module.params['name'], state['error']))
    if not done and module.params['fail_on_timeout']:
        module.fail_json(msg=line + ': not done', done=False)
    module.exit_json(changed=False, done=done, msg=line, operation={'name': module.params['name']})


main()
'''


def role_wait_task():
    """The role's task, with the fake module in place of container_operation_info."""
    with open(os.path.join(REPO, 'roles', 'gke_cluster', 'tasks', 'main.yml'), encoding='utf-8') as handle:
        tasks = yaml.safe_load(handle)
    task = dict(next(task for task in tasks if task.get('name') == WAIT_TASK))
    task['fake_container_operation'] = task.pop('meshbridge.istio_vm.container_operation_info')
    return task


def run_wait(tmp_path, done_at, operation=True, timeout=2400, interval=25, error=None):
    """Run the role's wait task; returns (ansible-playbook's output, return code, the fake's calls)."""
    library = tmp_path / 'library'
    library.mkdir(exist_ok=True)
    (library / 'fake_container_operation.py').write_text(FAKE_MODULE)
    state = tmp_path / 'state.json'
    state.write_text(json.dumps({'calls': [], 'done_at': done_at, 'error': error}))
    play = [{'hosts': 'localhost', 'gather_facts': False, 'vars': {
        'gke_cluster_project': 'p', 'gke_cluster_auth_kind': 'application', 'gke_cluster_zone': 'us-west2-a',
        'gke_cluster_operation_timeout': timeout, 'gke_cluster_progress_interval': interval,
        'gke_cluster_started': {'operation': {'name': 'operation-1'} if operation else None}},
        'tasks': [role_wait_task()]}]
    (tmp_path / 'play.yml').write_text(yaml.safe_dump(play))
    (tmp_path / 'inventory.ini').write_text('localhost ansible_connection=local\n')
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK='ansible.builtin.default', ANSIBLE_NOCOLOR='1',
               ANSIBLE_LIBRARY=str(library), ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_LOCALHOST_WARNING='false', FAKE_OPERATION_STATE=str(state))
    completed = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i',
                                str(tmp_path / 'inventory.ini'), str(tmp_path / 'play.yml')],
                               capture_output=True, text=True, env=env, cwd=str(tmp_path), check=False)
    return completed.stdout + completed.stderr, completed.returncode, json.loads(state.read_text())['calls']


ITEM_LINE = re.compile(r'^(ok): \[localhost\] => \(item=(.*)\)$|^(failed): \[localhost\] \(item=(.*?)\) => \{', re.MULTILINE)


def item_lines(output):
    """(status, label) of each loop item the default output shows: 'ok: [h] => (item=L)', 'failed: [h] (item=L) => {'."""
    return [(ok or failed, ok_label or failed_label) for ok, ok_label, failed, failed_label in ITEM_LINE.findall(output)]


def test_each_call_prints_the_operations_status_and_age_and_the_loop_stops_when_it_is_done(tmp_path):
    output, code, calls = run_wait(tmp_path, done_at=4)
    assert code == 0, output
    assert item_lines(output) == [
        ('ok', 'operation operation-1 (CREATE_CLUSTER on west) is RUNNING, 25 s since it started'),
        ('ok', 'operation operation-1 (CREATE_CLUSTER on west) is RUNNING, 50 s since it started'),
        ('ok', 'operation operation-1 (CREATE_CLUSTER on west) is RUNNING, 75 s since it started'),
        ('ok', 'operation operation-1 (CREATE_CLUSTER on west) is DONE, 100 s since it started')]
    assert len(calls) == 4 and {call['wait_timeout'] for call in calls} == {25}
    assert not any(call['fail_on_timeout'] for call in calls)
    assert re.search(r'localhost +: ok=1 +changed=0 .*failed=0', output)


def test_the_wait_is_bounded_by_the_operation_timeout_and_only_its_last_call_fails(tmp_path):
    output, code, calls = run_wait(tmp_path, done_at=None, timeout=100, interval=25)
    assert code != 0
    assert [call['fail_on_timeout'] for call in calls] == [False, False, False, True]
    lines = item_lines(output)
    assert [status for status, dummy in lines] == ['ok', 'ok', 'ok', 'failed']
    assert 'RUNNING, 100 s since it started: not done' in output


@pytest.mark.parametrize('timeout, interval, calls', [(250, 25, 10), (60, 25, 3), (10, 30, 1)])
def test_the_number_of_calls_covers_the_timeout(tmp_path, timeout, interval, calls):
    dummy, code, made = run_wait(tmp_path, done_at=None, timeout=timeout, interval=interval)
    assert code != 0 and len(made) == calls


def test_a_failed_operation_stops_the_loop_at_once(tmp_path):
    output, code, calls = run_wait(tmp_path, done_at=2, error='13: Insufficient regional quota')
    assert code != 0 and len(calls) == 2
    assert [status for status, dummy in item_lines(output)] == ['ok', 'failed']
    assert 'operation operation-1 failed: 13: Insufficient regional quota' in output


def test_no_operation_no_loop(tmp_path):
    output, code, calls = run_wait(tmp_path, done_at=1, operation=False)
    assert code == 0 and calls == []
    assert re.search(r'skipping: \[localhost\]', output) and not item_lines(output)
