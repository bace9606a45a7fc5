"""vm_workload (systemd mode, the lab's productcatalogservice) and vm_sidecar converge a lab VM into the mesh, with
the real Istio on both ends.

The bundle comes from mesh_add_vm against a real control plane with Istio installed by the real istioctl over the
plug-in CA; the package is the real istio-sidecar.deb (Istio's pilot-agent and packaging files, upstream Envoy),
downloaded at its real URL through the lab internet; the VM joins as Istio's VMs join: its pilot-agent presents the
token to the real istiod through the east-west gateway's passthrough and gets its certificate (CSR), Envoy gets its
configuration over xDS, istiod auto-registers the WorkloadEntry and the agent's health checks make it Healthy.

The broken bundles (an expired token, a wrong root certificate, a missing hosts line) make the real agent fail with
its own log line (in /var/log/istio/istio.log: istio-start.sh sends `pilot-agent proxy`'s output there, not to the
journal), and the next converge repairs them. The tests run in file order on one VM: each leaves it converged for
the next.
"""

import datetime
import glob
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
# The readiness wait for a run that must fail: the real agent logs its failed certificate request after its first
# round of retries (4 attempts with backoff, about 1.5 s after the restart), and the role polls every 2 s; a longer
# wait would only wait for the same answer.
FAILING_READY_TIMEOUT = 8
# The real pilot-agent's line when its certificate request fails: security/pkg/nodeagent/caclient/providers/citadel/
# client.go logs `failed to sign CSR: %v` (scope citadelclient) with the error CSRSign returns, `create certificate:
# %v` around gRPC's status; each test below matches the cause after that.
SIGN_FAILED = r'\terror\tcitadelclient\tfailed to sign CSR: create certificate: rpc error: '


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
    """pilot-agent's log: istio-start.sh runs `pilot-agent proxy` with its output in /var/log/istio/istio.log."""
    return lab.vm_run('cat /var/log/istio/istio.log').stdout


def restart_with_a_fresh_log(lab, before=''):
    """Run ``before`` (a shell line), empty the agent's log and restart istio.service, as after a reboot."""
    lab.vm_run(f'{before}{"; " if before else ""}: > /var/log/istio/istio.log; systemctl restart istio.service')


def istiod_log(lab):
    """The real istiod's log (each istiod pod's pilot-discovery, lab.istio.istiod_pods)."""
    text = ''
    for path in sorted(glob.glob(os.path.join(lab.istio.istiods.state_dir, 'istiod-*.log'))):
        with open(path, encoding='utf-8', errors='replace') as handle:
            text += handle.read()
    return text


def healthy_condition(lab):
    entry = lab.kubectl.get('workloadentries.networking.istio.io', f'{GROUP}-{lab.address}', NAMESPACE)
    return next((c for c in entry.get('status', {}).get('conditions', []) if c['type'] == 'Healthy'), {})


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
    # One result per look, the last one ready.
    assert converged.task(ROLE + "Ask the agent's readiness endpoint", VM_NAME)['results'][-1]['status'] == 200
    print(f'vm_sidecar, first task to a ready sidecar: {sidecar_seconds(converged):.1f} s')

    files = lab.vm_run('stat -c "%n %U %a" /var/run/secrets/tokens/istio-token /etc/certs/root-cert.pem '
                       '/var/lib/istio/envoy/cluster.env /etc/istio/config/mesh /etc/certs/cert-chain.pem '
                       '/etc/certs/key.pem').stdout.split('\n')
    # The agent writes its certificate and key next to the root, and rewrites the root from istiod's answer (0600).
    assert files[:6] == ['/var/run/secrets/tokens/istio-token istio-proxy 600',
                         '/etc/certs/root-cert.pem istio-proxy 600',
                         '/var/lib/istio/envoy/cluster.env istio-proxy 644', '/etc/istio/config/mesh istio-proxy 644',
                         '/etc/certs/cert-chain.pem istio-proxy 600', '/etc/certs/key.pem istio-proxy 600']
    # Signed by istiod with the plug-in CA's intermediate, for the group's service account.
    chain = lab.vm_run('openssl x509 -noout -issuer -ext subjectAltName -in /etc/certs/cert-chain.pem').stdout
    assert 'CN = Intermediate CA' in chain and f'URI:{VM_IDENTITY}' in chain, chain
    log = agent_log(lab)
    assert '\tinfo\tcache\tgenerated new workload certificate' in log
    assert '\tinfo\tEnvoy proxy is ready' in log
    with open(os.path.join(paths['bundle'], 'istio-token'), encoding='ascii') as handle:
        assert handle.read().strip() not in json.dumps(converged.report) + converged.stderr
    assert lab.vm_run(READY).stdout == '200'
    assert lab.vm_run('systemctl is-enabled istio.service').stdout.strip() == 'enabled'

    # Istio names an auto-registered entry <group>-<ip>, the address as it is (only IPv6 colons become dashes).
    entry = lab.kubectl.get('workloadentries.networking.istio.io', f'{GROUP}-{lab.address}', NAMESPACE)
    assert entry['spec']['address'] == lab.address
    assert entry['metadata']['annotations']['istio.io/autoRegistrationGroup'] == GROUP
    # The agent's health checks (the group's probe and Envoy's readiness) reach istiod, which sets the condition.
    wait_for(lambda: healthy_condition(lab).get('status') == 'True', timeout=60,
             what='WorkloadEntry condition Healthy=True from the agent\'s health reports', interval=0.5)

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


def test_a_token_gone_after_a_reboot_is_not_needed_and_is_placed_again_without_a_restart(
        lab, paths, run_playbook, tmp_path):
    # /var/run is a tmpfs: after a reboot the token is gone and istio.service starts without it. The real agent
    # needs none while its certificate in /etc/certs is valid: it presents that certificate to istiod instead.
    restart_with_a_fresh_log(lab, 'rm /var/run/secrets/tokens/istio-token')
    wait_for(lambda: lab.vm_run(READY).stdout == '200', timeout=60, what='the agent ready without its token',
             interval=0.5)
    assert not re.search(SIGN_FAILED, agent_log(lab))
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
    """The agent is not ready and its log has the line ``SIGN_FAILED`` + ``reason`` (a regular expression); returns
    that line. Not ready is a refused connection (curl's 000): the agent starts Envoy, which serves :15021, only once
    it has its certificate (sds: failed to warm certificate)."""
    def failed():
        found = re.search(SIGN_FAILED + reason + '.*', agent_log(lab))
        return found.group(0) if found and lab.vm_run(READY).stdout != '200' else None
    return wait_for(failed, timeout=60, what=f'the agent not ready, with a log line matching {reason!r}',
                    interval=0.5)


def test_a_missing_hosts_entry_is_reported_and_the_next_converge_repairs_it(lab, paths, run_playbook, tmp_path):
    restart_with_a_fresh_log(lab, "sed -i '/istiod.istio-system.svc/d' /etc/hosts")
    # Go's resolver asks the VM's nameserver (GCE's metadata server, unreachable in the lab), as it would on GCE
    # for a name only /etc/hosts knows.
    line = _not_ready_because(lab, r'code = Unavailable desc = connection error: desc = "transport: Error while '
                                   r'dialing: dial tcp: lookup istiod\.istio-system\.svc on [0-9.:]+: ')
    assert '\twarn\tsds\tfailed to warm certificate: ' in agent_log(lab), line
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
    # The end of the agent's log in the report: its certificate request fails in the TLS handshake with istiod,
    # whose certificate the placed root did not sign (Go's crypto/tls and crypto/x509 words).
    assert re.search(SIGN_FAILED + r'code = Unavailable desc = connection error: desc = '
                     r'\\?"transport: authentication handshake failed: tls: failed to verify certificate: x509: '
                     r'certificate signed by unknown authority', message), message
    assert 'Connection refused' in message, message     # nothing on :15021 before the agent starts Envoy
    repaired = run_playbook(SIDECAR_ONLY, inventory=inventory(lab, paths, tmp_path), env=lab.env)
    assert ROLE + 'Place the root certificate' in changed_tasks(repaired)
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
    # The connected sidecar needs no token, nor does a restarted one while its certificate is valid. Without it (a
    # new VM, or a certificate that expired while the VM was down) the agent must bootstrap with the token.
    restart_with_a_fresh_log(lab, 'rm /etc/certs/cert-chain.pem /etc/certs/key.pem')
    _not_ready_because(lab, r'code = Unauthenticated desc = request authenticate failure')
    assert 'cannot parse the cert chain, using token instead' in agent_log(lab)
    # istiod answers only "request authenticate failure" and logs the cause itself.
    assert 'service account token has expired' in istiod_log(lab)

    reissued = run_playbook(add_vm_play(lab, paths['bundle']))
    assert 'expired' in reissued.task('Add the VM')['token_reissue_reason']
    pushed = run_playbook(SIDECAR_ONLY, inventory=inventory(lab, paths, tmp_path), env=lab.env)
    assert ROLE + 'Place the bootstrap token' in changed_tasks(pushed)
    assert lab.vm_run(READY).stdout == '200'


def test_a_port_missing_from_the_group_is_outside_the_mesh_and_the_next_converge_brings_it_back(lab, paths,
                                                                                                run_playbook, tmp_path):
    """The group's ports become cluster.env's ISTIO_INBOUND_PORTS, the ports the agent captures. With the service's
    port left out the real agent has nothing to fail on: it is ready and logs no error, and the port is simply not
    captured, so a plaintext call reaches the workload past the sidecar and STRICT mTLS. Only the port list shows it."""
    run_playbook(add_vm_play(lab, paths['bundle'], ports=[{'number': 8080, 'protocol': 'http'}]))
    hosts = inventory(lab, paths, tmp_path)
    lab.vm_run(': > /var/log/istio/istio.log')
    moved = run_playbook(SIDECAR_ONLY, inventory=hosts, env=lab.env)
    assert ROLE + 'Place the cluster settings and mesh config' in changed_tasks(moved)
    assert lab.vm_run(READY).stdout == '200'
    assert "ISTIO_INBOUND_PORTS='8080'" in lab.vm_run('cat /var/lib/istio/envoy/cluster.env').stdout
    nat = lab.vm_run('iptables-legacy-save -t nat').stdout
    assert '--dport 8080 -j ISTIO_IN_REDIRECT' in nat and '--dport 3550 ' not in nat, nat
    assert not re.search(r'\t(error|fatal)\t', agent_log(lab)), agent_log(lab)
    bypassed = lab.list_products(os.path.join(paths['work'], 'bypass'), paths['stubs'])
    assert len(bypassed.get('products', [])) == 9, bypassed

    run_playbook(add_vm_play(lab, paths['bundle']))
    back = run_playbook(SIDECAR_ONLY, inventory=hosts, env=lab.env)
    assert ROLE + 'Place the cluster settings and mesh config' in changed_tasks(back)
    assert '--dport 3550 -j ISTIO_IN_REDIRECT' in lab.vm_run('iptables-legacy-save -t nat').stdout
    refused = lab.list_products(os.path.join(paths['work'], 'plain-again'), paths['stubs'])
    assert refused.get('error', '').startswith('UNAVAILABLE: '), refused


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
                 '/etc/certs/root-cert.pem', '/etc/certs/cert-chain.pem', '/etc/certs/key.pem',
                 '/var/lib/istio/envoy/sidecar.env', '/var/cache/meshbridge-istio-sidecar'):
        assert lab.vm_run(f'test -e {path}').returncode != 0, path
    assert 'istiod' not in lab.vm_run('cat /etc/hosts').stdout
    assert 'metadata.google.internal' in lab.vm_run('cat /etc/hosts').stdout
    assert run_playbook(SIDECAR_ONLY, inventory=hosts, env=lab.env).changed(VM_NAME) == 0
