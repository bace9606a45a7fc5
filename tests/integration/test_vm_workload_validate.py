"""The vm_workload role's validate entry point on the controller: each refusal names one setting and one rule."""

import json

import pytest

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Check the services
      ansible.builtin.include_role:
        name: meshbridge.istio_vm.vm_workload
        tasks_from: validate
"""


def _refusals(report):
    return [message for play in report['plays'] for task in play['tasks']
            for outcome in [task['hosts'].get('localhost', {})] for result in outcome.get('results', [outcome])
            if result.get('failed') for message in result['msg']]


@pytest.mark.parametrize('overrides, messages', [
    ({'vm_workload_services': [{'name': 'a', 'port': 3550}, {'name': 'a', 'port': 3551}]},
     ['vm_workload_services: ["a", "a"] names a service more than once; list each service once']),
    ({'vm_workload_services': [{'name': 'a', 'port': 3550}, {'name': 'b', 'port': 3550}]},
     ['vm_workload_services: ["a", "b"] gives two services the same port (3550, 3550); give each service its own port']),
    ({'vm_workload_services': [{'name': 'a b', 'port': 3550}, {'name': 'c', 'port': 70000}]},
     ['vm_workload_services[0].name: "a b" is not a systemd unit name; use letters, digits, _ . and -, starting with a '
      'letter or digit',
      'vm_workload_services[1].port: 70000 is outside 1-65535; give the TCP port the service listens on, 1-65535']),
    ({'vm_workload_services': [{'name': 'a', 'port': 3550, 'environment': {'PORT': '1'}}]},
     ['vm_workload_services[0].environment: {"PORT": "1"} sets PORT; leave it out, PORT is set from the service\'s port']),
    ({'vm_workload_services': [{'name': 'a', 'port': 3550, 'environment': {'X': 'a\nb'}}]},
     ['vm_workload_services[0].environment: {"X": "a\\nb"} has a value of more than one line; give each variable a '
      'single-line value']),
    ({'vm_workload_mode': 'systemd', 'vm_workload_services': [{'name': 'a', 'port': 3550}]},
     ['vm_workload_services[0].artifact: "" is empty, and systemd mode installs each service from one; give the path on '
      'the controller of the service\'s .tar.gz']),
    ({'vm_workload_mode': 'systemd', 'vm_workload_services': [{'name': 'a', 'port': 3550, 'artifact': '/nonexistent/a.tar.gz'}]},
     ['vm_workload_services[0].artifact: "/nonexistent/a.tar.gz" is not a file on the controller; build the artifact '
      'first, or correct the path']),
])
def test_a_refused_service_list_gets_a_message_per_setting(run_playbook, overrides, messages):
    refused = run_playbook(PLAY, extra_vars=overrides, expect_failure=True)
    assert _refusals(refused.report) == messages, json.dumps(refused.report)[-2000:]
    assert refused.changed() == 0


def test_a_good_service_list_passes(run_playbook, tmp_path):
    artifact = tmp_path / 'a.tgz'
    artifact.write_text('')
    passed = run_playbook(PLAY, extra_vars={'vm_workload_mode': 'systemd', 'vm_workload_services': [
        {'name': 'productcatalogservice', 'port': 3550, 'artifact': str(artifact), 'environment': {'LOG_LEVEL': 'info'}},
        {'name': 'cartservice', 'port': 7070, 'artifact': str(artifact)}]})
    assert _refusals(passed.report) == []
