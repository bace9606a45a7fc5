"""The vm_workload role's unit and environment templates, rendered by Ansible with the role's defaults and checked
by systemd's own parser (systemd-analyze verify).

Container mode cannot run here (no container engine can start on this machine), so this is what is tested of it:
the unit it writes, not a running container.
"""

import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(REPO, 'roles', 'vm_workload')

RENDER = """
- name: Render the role's templates
  hosts: localhost
  gather_facts: false
  vars_files:
    - {role}/defaults/main.yml
  tasks:
    - name: Render {{{{ template }}}}
      ansible.builtin.template:
        src: {role}/templates/{{{{ template }}}}
        dest: "{{{{ out }}}}"
        mode: "0644"
      loop: "{{{{ vm_workload_services }}}}"
"""


def _render(run_playbook, tmp_path, template, overrides):
    out = str(tmp_path / template.replace('.j2', ''))
    run_playbook(RENDER.format(role=ROLE), extra_vars=dict(overrides, template=template, out=out))
    with open(out, encoding='utf-8') as handle:
        return out, handle.read()


def _systemd_complaints(unit_path, tolerated=()):
    """What systemd-analyze verify says about the unit file itself (it also checks that the programs exist)."""
    run = subprocess.run(['systemd-analyze', 'verify', unit_path], capture_output=True, text=True, check=False)
    return [line for line in (run.stdout + run.stderr).splitlines()
            if line.strip() and not any(text in line for text in tolerated)]


def _directives(text):
    return [line for line in text.splitlines() if line and not line.startswith(('#', '['))]


@pytest.mark.parametrize('engine', ['docker', 'podman'])
def test_container_unit_runs_the_tutorial_image(run_playbook, tmp_path, engine):
    path, text = _render(run_playbook, tmp_path, 'container.service.j2',
                         {'vm_workload_container_engine': engine})
    image = 'us-central1-docker.pkg.dev/google-samples/microservices-demo/productcatalogservice:v0.10.5'
    directives = _directives(text)
    assert ('ExecStart=/usr/bin/%s run --rm --name productcatalogservice --network host '
            '--env-file /etc/vm_workload/productcatalogservice.env %s' % (engine, image)) in directives
    assert 'ExecStartPre=-/usr/bin/%s rm --force productcatalogservice' % engine in directives
    assert 'Restart=always' in directives
    assert ('Requires=docker.service' in directives) == (engine == 'docker')
    # The engine is not installed here: systemd may only complain about that.
    assert _systemd_complaints(path, tolerated=('/usr/bin/%s' % engine, 'docker.service')) == []


def test_container_unit_takes_an_explicit_image_and_restart_policy(run_playbook, tmp_path):
    services = [{'name': 'adservice', 'port': 9555, 'protocol': 'grpc', 'image': 'registry.example/ads:1.2'}]
    text = _render(run_playbook, tmp_path, 'container.service.j2',
                   {'vm_workload_services': services, 'vm_workload_restart_policy': 'on-failure'})[1]
    directives = _directives(text)
    expected_tail = ' --network host --env-file /etc/vm_workload/adservice.env registry.example/ads:1.2'
    assert any(line.startswith('ExecStart=') and line.endswith(expected_tail) for line in directives)
    assert 'Restart=on-failure' in directives


def test_systemd_unit_runs_the_artifact_as_a_dynamic_user(run_playbook, tmp_path):
    services = [{'name': 'productcatalogservice', 'port': 3550, 'protocol': 'grpc', 'artifact': '/dev/null'}]
    path, text = _render(run_playbook, tmp_path, 'systemd.service.j2', {'vm_workload_services': services})
    directives = _directives(text)
    assert 'ExecStart=/opt/productcatalogservice/bin/productcatalogservice' in directives
    assert 'EnvironmentFile=/etc/vm_workload/productcatalogservice.env' in directives
    assert 'DynamicUser=yes' in directives
    assert _systemd_complaints(path, tolerated=('/opt/productcatalogservice/bin/productcatalogservice',)) == []


def test_systemd_unit_takes_a_relative_program_from_the_install_directory(run_playbook, tmp_path):
    services = [{'name': 'currencyservice', 'port': 7000, 'artifact': '/dev/null',
                 'exec_start': 'bin/productcatalogservice --verbose'}]
    directives = _directives(_render(run_playbook, tmp_path, 'systemd.service.j2', {'vm_workload_services': services})[1])
    assert 'ExecStart=/opt/currencyservice/bin/productcatalogservice --verbose' in directives


def test_systemd_unit_with_a_named_user_and_command(run_playbook, tmp_path):
    services = [{'name': 'legacy', 'port': 8080, 'artifact': '/dev/null', 'exec_start': '/usr/bin/true', 'user': 'www-data'}]
    path, text = _render(run_playbook, tmp_path, 'systemd.service.j2', {'vm_workload_services': services})
    directives = _directives(text)
    assert 'ExecStart=/usr/bin/true' in directives
    assert 'User=www-data' in directives and 'DynamicUser=yes' not in directives
    assert _systemd_complaints(path) == []


def test_environment_file_sets_port_then_sorted_extras(run_playbook, tmp_path):
    services = [{'name': 'productcatalogservice', 'port': 3550,
                 'environment': {'DISABLE_PROFILER': '1', 'EXTRA_LATENCY': '0s'}}]
    text = _render(run_playbook, tmp_path, 'service.env.j2', {'vm_workload_services': services})[1]
    assert _directives(text) == ['PORT=3550', 'DISABLE_PROFILER=1', 'EXTRA_LATENCY=0s']
