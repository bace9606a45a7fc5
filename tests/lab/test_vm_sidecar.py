"""vm_workload (systemd mode, the lab's productcatalogservice) and vm_sidecar converge a lab VM into the mesh.

The bundle comes from mesh_add_vm against a real control plane with Istio installed by the lab's istioctl and
the plug-in CA; the package is the lab's istio-sidecar.deb, downloaded at its real URL through the lab internet;
the VM's agent talks to the lab's istiod on the east-west gateway's address. The tests run in file order on one VM:
each leaves it converged for the next.
"""

import datetime
import json
import os
import re
import shutil

import pytest
import yaml

from lab.kubernetes.testing import signed_service_account_token
from lab.net.commands import wait_for
from lab.workloads.productcatalog import build
from sidecar_lab import ISTIO_VERSION, NAMESPACE, PRODUCT_PORT, VM_NAME, MeshCA, SidecarLab

pytestmark = pytest.mark.lab

GROUP = 'productcatalogservice'
ROLE = 'meshbridge.istio_vm.vm_sidecar : '
VM_IDENTITY = f'spiffe://cluster.local/ns/{NAMESPACE}/sa/{GROUP}'
CONVERGE = """
- name: Run the VM's workload and join it to the mesh
  hosts: vm
  gather_facts: false
  roles:
    - role: meshbridge.istio_vm.vm_workload
    - role: meshbridge.istio_vm.vm_sidecar
"""
SIDECAR_ONLY = """
- name: Join the VM to the mesh
  hosts: vm
  gather_facts: false
  roles:
    - role: meshbridge.istio_vm.vm_sidecar
"""
READY = 'curl -s -o /dev/null -w %{http_code} http://localhost:15021/healthz/ready'
# The readiness wait for a run that must fail: the agent reports a broken bundle at its first attempt, a second or
# two after the restart, and the role polls every 2 s; a longer wait would only wait for the same answer.
FAILING_READY_TIMEOUT = 6


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    world = SidecarLab(str(tmp_path_factory.mktemp('lab')))
    yield world
    world.close()


@pytest.fixture(scope='module')
def paths(tmp_path_factory):
    base = tmp_path_factory.mktemp('controller')
    return {'bundle': str(base / 'bundle'), 'cache': str(base / 'cache'),
            'artifact': build.build(str(base / 'artifact')),
            'stubs': str(base / 'stubs'), 'work': str(base / 'work')}


def add_vm_play(lab, bundle_dir, **extra):
    args = {'name': GROUP, 'namespace': NAMESPACE, 'kubeconfig': lab.kube.kubeconfig, 'context': 'lab',
            'labels': {'app': GROUP, 'version': 'v1'}, 'ports': [{'number': PRODUCT_PORT, 'protocol': 'grpc'}],
            'address': lab.address, 'bundle_dir': bundle_dir, 'probe': {'tcp_socket': {'port': PRODUCT_PORT}}}
    args.update(extra)
    return yaml.safe_dump([{'hosts': 'localhost', 'gather_facts': False,
                            'tasks': [{'name': 'Add the VM', 'meshbridge.istio_vm.mesh_add_vm': args}]}])


def inventory(lab, paths, tmp_path, **host_vars):
    service = {'name': GROUP, 'port': PRODUCT_PORT, 'protocol': 'grpc', 'artifact': paths['artifact']}
    variables = {'vm_workload_mode': 'systemd', 'vm_workload_services': [service],
                 'vm_sidecar_bundle_dir': paths['bundle'], 'vm_sidecar_cache_dir': paths['cache'],
                 'vm_sidecar_ready_timeout': 60, 'vm_sidecar_istio_version': ISTIO_VERSION}
    variables.update(host_vars)
    return lab.inventory(str(tmp_path / 'inventory.json'), **variables)


def changed_tasks(result):
    return [task['task']['name'] for play in result.report['plays'] for task in play['tasks']
            if task['hosts'].get(VM_NAME, {}).get('changed')]


def invocation(lab):
    return lab.vm_run('systemctl show --value -p InvocationID istio.service').stdout.strip()


def sidecar_seconds(result):
    """Seconds from the start of vm_sidecar's first task to the end of its readiness wait (the JSON callback's
    task timestamps)."""
    tasks = [task['task'] for play in result.report['plays'] for task in play['tasks']
             if task['task']['name'].startswith(ROLE)]
    ready = [task for task in tasks if task['name'] == ROLE + "Ask the agent's readiness endpoint"][-1]
    start, end = (datetime.datetime.fromisoformat(moment.replace('Z', '+00:00'))
                  for moment in (tasks[0]['duration']['start'], ready['duration']['end']))
    return (end - start).total_seconds()


def agent_log(lab):
    return lab.vm_run('cat /var/log/istio/istio.log; journalctl -u istio.service --no-pager -o cat').stdout


def test_check_mode_on_a_fresh_vm_predicts_and_changes_nothing(lab, paths, run_playbook, tmp_path):
    run_playbook(add_vm_play(lab, paths['bundle']))
    predicted = run_playbook(CONVERGE, inventory=inventory(lab, paths, tmp_path), check=True, env=lab.env)
    assert predicted.changed(VM_NAME) > 0
    assert ROLE + "Create the controller's package cache" in changed_tasks(predicted)
    assert (ROLE + 'Predict the first bundle placement and start (check mode, package not installed yet)'
            in changed_tasks(predicted))
    assert not os.path.exists(paths['cache'])
    assert lab.vm_run('dpkg -s istio-sidecar').returncode != 0
    assert lab.vm_run('test -e /var/run/secrets/tokens/istio-token '
                      '|| test -e /var/cache/meshbridge-istio-sidecar').returncode != 0
    assert 'istiod' not in lab.vm_run('cat /etc/hosts').stdout


def test_converge_makes_a_healthy_registered_sidecar_and_a_second_run_changes_nothing(lab, paths, run_playbook,
                                                                                      tmp_path):
    hosts = inventory(lab, paths, tmp_path)
    converged = run_playbook(CONVERGE, inventory=hosts, env=lab.env)
    assert converged.changed(VM_NAME) > 0
    assert converged.task(ROLE + "Ask the agent's readiness endpoint", VM_NAME)['status'] == 200
    print(f'vm_sidecar, first task to a ready sidecar: {sidecar_seconds(converged):.1f} s')

    files = lab.vm_run('stat -c "%n %U %a" /var/run/secrets/tokens/istio-token /etc/certs/root-cert.pem '
                       '/var/lib/istio/envoy/cluster.env /etc/istio/config/mesh').stdout.split('\n')
    assert files[:4] == ['/var/run/secrets/tokens/istio-token istio-proxy 600',
                         '/etc/certs/root-cert.pem istio-proxy 644',
                         '/var/lib/istio/envoy/cluster.env istio-proxy 644', '/etc/istio/config/mesh istio-proxy 644']
    with open(os.path.join(paths['bundle'], 'istio-token'), encoding='ascii') as handle:
        assert handle.read().strip() not in json.dumps(converged.report) + converged.stderr
    assert lab.vm_run(READY).stdout == '200'
    assert lab.vm_run('systemctl is-enabled istio.service').stdout.strip() == 'enabled'

    # Istio names an auto-registered entry <group>-<ip>, the address as it is (only IPv6 colons become dashes).
    entry = lab.kubectl.get('workloadentries.networking.istio.io', f'{GROUP}-{lab.address}', NAMESPACE)
    assert entry['spec']['address'] == lab.address
    assert entry['metadata']['annotations']['istio.io/autoRegistrationGroup'] == GROUP

    before = invocation(lab)
    again = run_playbook(CONVERGE, inventory=hosts, env=lab.env)
    assert again.changed(VM_NAME) == 0, changed_tasks(again)
    assert invocation(lab) == before
    assert run_playbook(CONVERGE, inventory=hosts, env=lab.env, check=True).changed(VM_NAME) == 0


def test_a_frontend_with_a_mesh_cert_lists_products_through_the_sidecar_and_others_are_refused(lab, paths):
    frontend = _tls_dir(paths['work'], 'frontend', lab.mesh_ca.workload_files(NAMESPACE, 'frontend'))
    listed = lab.list_products(os.path.join(paths['work'], 'mtls'), paths['stubs'], frontend, VM_IDENTITY)
    assert len(listed.get('products', [])) == 9, listed
    print('ListProducts through the VM sidecar with a frontend mesh certificate: %d products' % len(listed['products']))

    # Refused by the sidecar, not unreachable: the connection to the VM is made, then the sidecar (STRICT) does not
    # take plaintext.
    plaintext = lab.list_products(os.path.join(paths['work'], 'plain'), paths['stubs'])
    assert 'error' in plaintext, plaintext
    assert plaintext['error'].startswith('UNAVAILABLE: '), plaintext
    assert plaintext['upstream']['upstream_cx_total'] >= 1, plaintext
    assert plaintext['upstream']['upstream_cx_connect_fail'] == 0, plaintext

    # A stranger that trusts the mesh root (so it accepts the VM's certificate) but whose own certificate comes from
    # another root: the sidecar refuses it in the handshake with an unknown-CA alert.
    other_root = MeshCA(os.path.join(paths['work'], 'other-ca'), name='Another Root CA')
    stranger = _tls_dir(paths['work'], 'stranger', dict(other_root.workload_files(NAMESPACE, 'frontend'),
                                                        **{'root-cert.pem': os.path.join(frontend, 'root-cert.pem')}))
    refused = lab.list_products(os.path.join(paths['work'], 'stranger'), paths['stubs'], stranger, VM_IDENTITY)
    assert 'error' in refused, refused
    assert refused['upstream']['ssl.fail_verify_error'] == 0, refused  # the stranger's check of the VM passed
    assert refused['upstream']['ssl.connection_error'] >= 1, refused
    assert any('TLSV1_ALERT_UNKNOWN_CA' in error for error in refused['tls_errors']), refused


def _tls_dir(work, name, files):
    directory = os.path.join(work, name + '-tls')
    os.makedirs(directory, exist_ok=True)
    for file_name, path in files.items():
        shutil.copyfile(path, os.path.join(directory, file_name))
    return directory


def test_a_token_gone_after_a_reboot_is_placed_again_and_picked_up_without_a_restart(lab, paths, run_playbook,
                                                                                     tmp_path):
    # /var/run is a tmpfs: after a reboot the token is gone and istio.service starts without it.
    lab.vm_run('rm /var/run/secrets/tokens/istio-token; systemctl restart istio.service')
    _not_ready_because(lab, r'istio-token')
    before = invocation(lab)
    repaired = run_playbook(SIDECAR_ONLY, inventory=inventory(lab, paths, tmp_path), env=lab.env)
    assert changed_tasks(repaired) == [ROLE + 'Place the bootstrap token']
    assert invocation(lab) == before
    assert lab.vm_run(READY).stdout == '200'


def test_the_hosts_line_follows_the_bundle_and_other_lines_stay(lab, paths, run_playbook, tmp_path):
    original = lab.vm_run('cat /etc/hosts').stdout
    line = next(line for line in original.splitlines() if 'istiod.istio-system.svc' in line)
    lab.vm_run("sed -i 's/^[^ ]* istiod.istio-system.svc$/10.168.8.250 istiod.istio-system.svc/' /etc/hosts; "
               'echo "10.168.8.251 istiod.istio-system.svc" >> /etc/hosts; '
               'echo "192.0.2.7 unrelated.example" >> /etc/hosts')
    hosts = inventory(lab, paths, tmp_path)
    predicted = run_playbook(SIDECAR_ONLY, inventory=hosts, env=lab.env, check=True)
    assert ROLE + 'Remove stale istiod lines from /etc/hosts' in changed_tasks(predicted)
    assert '10.168.8.250' in lab.vm_run('cat /etc/hosts').stdout
    run_playbook(SIDECAR_ONLY, inventory=hosts, env=lab.env)
    after = lab.vm_run('cat /etc/hosts').stdout.splitlines()
    others = [entry for entry in original.splitlines() if entry != line] + ['192.0.2.7 unrelated.example']
    assert [entry for entry in after if 'istiod' not in entry] == others
    assert [entry for entry in after if 'istiod' in entry] == [line]
    assert run_playbook(SIDECAR_ONLY, inventory=hosts, env=lab.env).changed(VM_NAME) == 0
    lab.vm_run("sed -i '/unrelated.example/d' /etc/hosts")


def _not_ready_because(lab, reason):
    """The agent answers 503 and says ``reason`` (a regular expression) in its log."""
    wait_for(lambda: lab.vm_run(READY).stdout == '503' and re.search(reason, agent_log(lab)), timeout=60,
             what=f'readiness 503 with a log line matching {reason!r}', interval=0.5)


def test_a_missing_hosts_entry_is_reported_and_the_next_converge_repairs_it(lab, paths, run_playbook, tmp_path):
    lab.vm_run("sed -i '/istiod.istio-system.svc/d' /etc/hosts; systemctl restart istio.service")
    _not_ready_because(lab, r'istiod\.istio-system\.svc.*(resolve|hosts)')
    repaired = run_playbook(SIDECAR_ONLY, inventory=inventory(lab, paths, tmp_path), env=lab.env)
    assert ROLE + "Point istiod's name at the address from the bundle" in changed_tasks(repaired)
    assert lab.vm_run(READY).stdout == '200'


def test_a_wrong_root_cert_fails_the_readiness_wait_with_the_agents_reason_and_is_repaired(lab, paths, run_playbook,
                                                                                           tmp_path):
    wrong = os.path.join(paths['work'], 'wrong-root-bundle')
    shutil.copytree(paths['bundle'], wrong, dirs_exist_ok=True)
    other = MeshCA(os.path.join(paths['work'], 'wrong-root-ca'), name='Wrong Root CA')
    with open(os.path.join(wrong, 'root-cert.pem'), 'w', encoding='ascii') as handle:
        handle.write(other.root_pem)
    failed = run_playbook(SIDECAR_ONLY, inventory=inventory(lab, paths, tmp_path, vm_sidecar_bundle_dir=wrong,
                                                            vm_sidecar_ready_timeout=FAILING_READY_TIMEOUT),
                          env=lab.env, expect_failure=True)
    message = failed.task(ROLE + 'Report why the sidecar is not ready', VM_NAME)['msg']
    assert 'istio.service' in message and f'not ready after {FAILING_READY_TIMEOUT} s' in message
    assert re.search(r'certificate verify failed|root-cert\.pem', message), message
    repaired = run_playbook(SIDECAR_ONLY, inventory=inventory(lab, paths, tmp_path), env=lab.env)
    assert ROLE + 'Place the cluster settings, mesh config and root certificate' in changed_tasks(repaired)
    assert lab.vm_run(READY).stdout == '200'


def test_a_new_token_does_not_restart_a_connected_sidecar(lab, paths, run_playbook, tmp_path):
    started = invocation(lab)
    reissued = run_playbook(add_vm_play(lab, paths["bundle"], token_renew_before=3599))
    assert reissued.task('Add the VM')['token_reissued'] is True
    pushed = run_playbook(SIDECAR_ONLY, inventory=inventory(lab, paths, tmp_path), env=lab.env)
    assert changed_tasks(pushed) == [ROLE + 'Place the bootstrap token']
    assert invocation(lab) == started
    assert lab.vm_run(READY).stdout == '200'


def test_a_token_that_expired_before_the_sidecar_restarted_is_reissued_and_picked_up(lab, paths, run_playbook,
                                                                                     tmp_path):
    # Signed by the cluster like any token mesh_add_vm gets, but its lifetime ended a minute ago.
    expired = signed_service_account_token(lab.kube, lab.kubectl.get('serviceaccount', GROUP, NAMESPACE),
                                           ['istio-ca'], -60)
    token_path = os.path.join(paths['bundle'], 'istio-token')
    with open(token_path, 'w', encoding='ascii') as handle:
        handle.write(expired)
    placed = run_playbook(SIDECAR_ONLY, inventory=inventory(lab, paths, tmp_path), env=lab.env)
    assert expired not in json.dumps(placed.report) + placed.stderr
    # The connected sidecar needs no token; restarted (as after a reboot) it must bootstrap with the expired one.
    lab.vm_run('systemctl restart istio.service')
    _not_ready_because(lab, r'expired')

    reissued = run_playbook(add_vm_play(lab, paths['bundle']))
    assert 'expired' in reissued.task('Add the VM')['token_reissue_reason']
    pushed = run_playbook(SIDECAR_ONLY, inventory=inventory(lab, paths, tmp_path), env=lab.env)
    assert ROLE + 'Place the bootstrap token' in changed_tasks(pushed)
    assert lab.vm_run(READY).stdout == '200'


@pytest.mark.parametrize('host_vars, message', [
    ({'vm_sidecar_bundle_dir': '/nonexistent/bundle'},
     r'vm_sidecar_bundle_dir /nonexistent/bundle .*is not a directory.*mesh_add_vm'),
    ({'vm_sidecar_istio_version': 'latest'},
     r'vm_sidecar_istio_version must be an Istio release such as 1\.30\.4 \(got latest\)'),
    ({'vm_sidecar_ready_timeout': 0}, r'vm_sidecar_ready_timeout a number of seconds above 0'),
])
def test_bad_input_is_refused_before_any_change(lab, paths, run_playbook, tmp_path, host_vars, message):
    hosts_before = lab.vm_run('cat /etc/hosts; ls -l --time-style=full-iso /var/run/secrets/tokens').stdout
    refused = run_playbook(SIDECAR_ONLY, inventory=inventory(lab, paths, tmp_path, **host_vars), env=lab.env,
                           expect_failure=True)
    assert refused.failed(VM_NAME) and refused.changed(VM_NAME) == 0
    assert re.search(message, json.dumps(refused.report)), json.dumps(refused.report)[-2000:]
    assert lab.vm_run('cat /etc/hosts; ls -l --time-style=full-iso /var/run/secrets/tokens').stdout == hosts_before


def test_a_bundle_missing_files_is_refused_naming_them(lab, paths, run_playbook, tmp_path):
    partial = os.path.join(paths['work'], 'partial-bundle')
    shutil.copytree(paths['bundle'], partial, dirs_exist_ok=True)
    os.remove(os.path.join(partial, 'istio-token'))
    os.remove(os.path.join(partial, 'hosts'))
    refused = run_playbook(SIDECAR_ONLY, inventory=inventory(lab, paths, tmp_path, vm_sidecar_bundle_dir=partial),
                           env=lab.env, expect_failure=True)
    assert refused.changed(VM_NAME) == 0
    assert f'vm_sidecar_bundle_dir {partial} on the controller lacks istio-token, hosts' in json.dumps(refused.report)


def test_absent_removes_the_sidecar_its_files_and_the_hosts_line(lab, paths, run_playbook, tmp_path):
    hosts = inventory(lab, paths, tmp_path, vm_sidecar_state='absent')
    removed = run_playbook(SIDECAR_ONLY, inventory=hosts, env=lab.env)
    assert removed.changed(VM_NAME) > 0
    assert lab.vm_run('dpkg -s istio-sidecar').returncode != 0
    assert lab.vm_run('systemctl is-active istio.service').stdout.strip() != 'active'
    for path in ('/var/run/secrets/tokens/istio-token', '/var/lib/istio/envoy/cluster.env', '/etc/istio/config/mesh',
                 '/etc/certs/root-cert.pem', '/var/cache/meshbridge-istio-sidecar'):
        assert lab.vm_run(f'test -e {path}').returncode != 0, path
    assert 'istiod' not in lab.vm_run('cat /etc/hosts').stdout
    assert 'metadata.google.internal' in lab.vm_run('cat /etc/hosts').stdout
    assert run_playbook(SIDECAR_ONLY, inventory=hosts, env=lab.env).changed(VM_NAME) == 0
