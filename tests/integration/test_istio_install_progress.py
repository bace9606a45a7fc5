"""istio_control_plane's installation in the background and its progress lines, as a user watching ansible-playbook
sees them: the role's own tasks, run by real ansible-playbook on localhost with the default output, with istio_install
replaced by a fake that takes a few seconds (or fails) and a kubeconfig that leads nowhere (the label's look at
istio-system's Deployments then shows none). No cluster and no lab: the plumbing is under test (a line per look, the
stop when the job is done, its result and change kept, check mode predicting at once)."""

import json
import os
import re
import subprocess
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIRST = 'Note when the installation starts'
INSTALL = 'Ensure Istio runs with istiod exposed to VMs, version {{ istio_control_plane_version }}'
LAST = "Keep the installation's result"

FAKE_MODULE = '''#!/usr/bin/python
import time

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(takes=dict(type='float'), fail=dict(type='bool', default=False)),
                           supports_check_mode=True)
    if not module.check_mode:
        time.sleep(module.params['takes'])
    if module.params['fail']:
        module.fail_json(msg='Istio is not ready after 1 s: Deployment istio-system/istiod is not Available')
    module.exit_json(changed=True, istiod_address='10.0.0.9', predicted=module.check_mode)


main()
'''


def role_tasks():
    """The role's tasks from the installation to the kept result, the installation done by the fake."""
    with open(os.path.join(REPO, 'roles', 'istio_control_plane', 'tasks', 'main.yml'), encoding='utf-8') as handle:
        tasks = yaml.safe_load(handle)
    names = [task.get('name') for task in tasks]
    chosen = [dict(task) for task in tasks[names.index(FIRST):names.index(LAST) + 1]]
    install = chosen[names.index(INSTALL) - names.index(FIRST)]
    install.pop('meshbridge.istio_vm.istio_install')
    install['fake_istio_install'] = {'takes': '{{ fake_takes }}', 'fail': '{{ fake_fail }}'}
    return chosen


def run_install(tmp_path, takes=3, fail=False, check=False):
    library = tmp_path / 'library'
    library.mkdir(exist_ok=True)
    (library / 'fake_istio_install.py').write_text(FAKE_MODULE)
    play = [{'hosts': 'localhost', 'gather_facts': False, 'vars': {
        'istio_control_plane_version': '1.30.4', 'istio_control_plane_wait_timeout': 5,
        'istio_control_plane_progress_interval': 1, 'istio_control_plane_context': 'west',
        'istio_control_plane_kubeconfig': str(tmp_path / 'no-kubeconfig'),
        'istio_control_plane_async_dir': str(tmp_path / 'async'), 'fake_takes': takes, 'fake_fail': fail},
        'tasks': role_tasks() + [{'name': 'Show the kept result', 'ansible.builtin.debug': {
            'msg': '{{ {"changed": istio_control_plane_install.changed, '
                   '"istiod_address": istio_control_plane_install.istiod_address | default("")} | to_json }}'}}]}]
    (tmp_path / 'play.yml').write_text(yaml.safe_dump(play))
    (tmp_path / 'inventory.ini').write_text('localhost ansible_connection=local\n')
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK='ansible.builtin.default', ANSIBLE_NOCOLOR='1',
               ANSIBLE_LIBRARY=str(library), ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_LOCALHOST_WARNING='false')
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i',
               str(tmp_path / 'inventory.ini'), str(tmp_path / 'play.yml')] + (['--check'] if check else [])
    completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=str(tmp_path), check=False)
    return completed.stdout + completed.stderr, completed.returncode


def looks(output):
    return re.findall(r'^(?:ok|changed|failed): \[localhost\] (?:=> )?\(item=(\w+), (\d+) s: (.*?)\)', output,
                      re.MULTILINE)


def kept(output):
    return json.loads(re.search(r'"msg": "(\{.*\})"', output).group(1).replace('\\"', '"'))


def test_each_look_says_whether_istioctl_is_at_work_and_the_result_is_kept(tmp_path):
    output, code = run_install(tmp_path, takes=3)
    assert code == 0, output
    shown = looks(output)
    assert shown[0][0] == 'installing' and shown[-1][0] == 'done'
    assert all(state == 'installing' for state, dummy, dummy in shown[:-1])
    seconds = [int(waited) for dummy, waited, dummy in shown]
    assert seconds == sorted(seconds) and seconds[-1] >= 2
    assert all(deployments == 'no Deployment in istio-system yet' for dummy, dummy, deployments in shown)
    assert kept(output) == {'changed': True, 'istiod_address': '10.0.0.9'}
    # The installation counts once: the loop that saw it finish, not the start.
    assert re.search(r'localhost +: ok=\d+ +changed=1 ', output), output
    assert not os.listdir(tmp_path / 'async')  # the job's status file is removed


def test_a_failed_installation_fails_the_wait_with_the_modules_message(tmp_path):
    output, code = run_install(tmp_path, takes=1, fail=True)
    assert code != 0
    assert looks(output)[-1][0] == 'done'
    assert 'Istio is not ready after 1 s: Deployment istio-system/istiod is not Available' in output


def test_check_mode_predicts_at_once_without_a_background_job(tmp_path):
    output, code = run_install(tmp_path, takes=30, check=True)
    assert code == 0, output
    assert looks(output) == []
    assert kept(output) == {'changed': True, 'istiod_address': '10.0.0.9'}
    assert re.search(r'localhost +: ok=\d+ +changed=1 ', output), output
