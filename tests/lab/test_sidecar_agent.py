"""The lab pilot-agent's pieces on the host: reading a bundle istioctl's way of writing it, the Envoy bootstrap
(checked by the real Envoy), the capture rules, the readiness probe, the status port and the retry loop."""

import json
import os
import re
import socket
import subprocess
import threading
import urllib.error
import urllib.request

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import vm_bundle
from lab.istio.proto import stubs
from lab.istio.sidecar import build
from lab.istio.sidecar.agent import bootstrap, capture, identity, probes, settings, status
from lab.net.commands import wait_for

PACKAGE_TEMPLATE = os.path.join(build.PACKAGE_DIR, 'envoy_bootstrap_tmpl.json')
GROUP = {
    'apiVersion': 'networking.istio.io/v1', 'kind': 'WorkloadGroup',
    'metadata': {'name': 'productcatalog', 'namespace': 'shop'},
    'spec': {'metadata': {'labels': {'app': 'productcatalog'}},
             'template': {'serviceAccount': 'catalog', 'network': 'vm-net', 'ports': {'grpc': 3550}},
             'probe': {'tcpSocket': {'port': 3550}, 'periodSeconds': 2, 'failureThreshold': 2}},
}


def _openssl(*args):
    subprocess.run(('openssl',) + args, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope='module')
def mesh_pki(tmp_path_factory):
    """A mesh root and a workload certificate it signed (SPIFFE URI SAN), made with openssl."""
    directory = tmp_path_factory.mktemp('pki')
    paths = {name: str(directory / name) for name in ('root.pem', 'root.key', 'cert-chain.pem', 'key.pem', 'csr.pem', 'ext')}
    _openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', paths['root.key'], '-out', paths['root.pem'],
             '-subj', '/O=cluster.local', '-days', '2')
    key_pem, csr_pem = identity.new_key_and_csr('spiffe://cluster.local/ns/shop/sa/catalog')
    for name, text in (('key.pem', key_pem), ('csr.pem', csr_pem), ('ext', 'subjectAltName=critical,URI:spiffe://cluster.local/ns/shop/sa/catalog\n')):
        with open(paths[name], 'w', encoding='ascii') as handle:
            handle.write(text)
    _openssl('x509', '-req', '-in', paths['csr.pem'], '-CA', paths['root.pem'], '-CAkey', paths['root.key'],
             '-CAcreateserial', '-days', '1', '-extfile', paths['ext'], '-out', paths['cert-chain.pem'])
    return paths


def _bundle(root, group=None, revision=''):
    """The five bundle files rendered by the collection's own renderer, placed where the vm_sidecar role puts them."""
    inputs = vm_bundle.BundleInputs(group or GROUP, {'trustDomain': 'cluster.local', 'defaultConfig': {'meshId': 'mesh1'}},
                                    'west', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', 'a.b.c',
                                    '10.6.0.1', revision=revision, auto_register=True)
    files = vm_bundle.render(inputs)
    paths = settings.Paths(str(root))
    for path, name in ((paths.cluster_env, 'cluster.env'), (paths.mesh_config, 'mesh.yaml'), (paths.token, 'istio-token'),
                       (paths.root_cert, 'root-cert.pem')):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w', encoding='utf-8') as handle:
            handle.write(files[name])
    for directory in (paths.certs_dir, paths.proxy_dir, paths.log_dir):
        os.makedirs(directory, exist_ok=True)
    return paths


def test_settings_read_a_bundle_as_istioctl_writes_it(tmp_path):
    loaded = settings.Settings.load(_bundle(tmp_path))
    assert loaded.spiffe_id == 'spiffe://cluster.local/ns/shop/sa/catalog'
    assert loaded.discovery_address == 'istiod.istio-system.svc:15012' == loaded.ca_address
    assert loaded.inbound_ports() == [3550]
    assert loaded.excluded_ports() == [22, 15020, 15021, 15090]
    assert loaded.readiness_probe == GROUP['spec']['probe']
    assert loaded.node_id('10.6.0.5', 'vm-1') == 'sidecar~10.6.0.5~vm-1.shop~shop.svc.cluster.local'
    metadata = loaded.node_metadata('10.6.0.5', 'vm-1')
    assert metadata['AUTO_REGISTER_GROUP'] == 'productcatalog' == metadata['WORKLOAD_NAME']
    assert metadata['LABELS']['app'] == 'productcatalog'
    assert (metadata['NAMESPACE'], metadata['SERVICE_ACCOUNT'], metadata['CLUSTER_ID']) == ('shop', 'catalog', 'west')
    assert (metadata['MESH_ID'], metadata['NETWORK'], metadata['INSTANCE_IPS']) == ('mesh1', 'vm-net', '10.6.0.5')


def test_a_revision_bundle_sends_certificates_and_xds_to_the_revision(tmp_path):
    loaded = settings.Settings.load(_bundle(tmp_path, revision='canary'))
    assert loaded.ca_address == 'istiod-canary.istio-system.svc:15012' == loaded.discovery_address


def test_a_group_without_ports_captures_every_port(tmp_path):
    group = json.loads(json.dumps(GROUP))
    del group['spec']['template']['ports']
    assert settings.Settings.load(_bundle(tmp_path, group)).inbound_ports() == '*'


@pytest.mark.parametrize('text, problem', [
    ('ISTIO_INBOUND_PORTS=80\nnot a line\n', 'line 2 is not KEY=VALUE'),
    ("A='unterminated\n", 'line 1 (A): No closing quotation'),
])
def test_malformed_cluster_env_is_named(text, problem):
    with pytest.raises(settings.SettingsError, match=re.escape(problem)):
        settings.parse_env_file(text)


def test_missing_files_are_named(tmp_path):
    paths = _bundle(tmp_path)
    os.unlink(paths.token)
    with pytest.raises(settings.SettingsError, match='token .*/istio-token is missing'):
        settings.Settings.load(paths)


def test_capture_rules_for_every_port_skip_the_proxy_and_excluded_ports():
    text = capture.rules('*', [22, 15021])
    assert text.splitlines() == [
        '*nat', ':ISTIO_INBOUND - [0:0]', ':ISTIO_IN_REDIRECT - [0:0]',
        '-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006',
        '-A PREROUTING -p tcp -j ISTIO_INBOUND',
        '-A ISTIO_INBOUND -p tcp --dport 15000:15999 -j RETURN',
        '-A ISTIO_INBOUND -p tcp --dport 22 -j RETURN',
        '-A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN',
        '-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT',
        'COMMIT']


def test_capture_rules_for_listed_ports_redirect_only_those():
    lines = capture.rules([3550, 8080], [22]).splitlines()
    assert lines[5:-1] == ['-A ISTIO_INBOUND -p tcp --dport 3550 -j ISTIO_IN_REDIRECT',
                           '-A ISTIO_INBOUND -p tcp --dport 8080 -j ISTIO_IN_REDIRECT']
    assert capture.rules([], [22]) == ''


@pytest.mark.parametrize('mode', ['STRICT', 'PERMISSIVE'])
def test_bootstrap_is_valid_for_the_real_envoy(mode, mesh_pki, tmp_path):
    node = {'id': 'sidecar~10.6.0.5~vm-1.shop~shop.svc.cluster.local', 'cluster': 'productcatalog.shop',
            'metadata': {'NAMESPACE': 'shop'}}
    config = bootstrap.render(bootstrap.load_template(PACKAGE_TEMPLATE), node, mode, mesh_pki['cert-chain.pem'],
                              mesh_pki['key.pem'], mesh_pki['root.pem'], 'cluster.local')
    path = tmp_path / 'envoy.json'
    path.write_text(json.dumps(config))
    checked = subprocess.run([build.envoy_binary(), '--mode', 'validate', '-c', str(path), '--log-level', 'warning'],
                             capture_output=True, text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    chains = {chain['name']: chain for chain in config['static_resources']['listeners'][0]['filter_chains']}
    tls = chains['inbound-mtls']['transport_socket']['typed_config']
    assert tls['require_client_certificate'] is True
    assert tls['common_tls_context']['validation_context']['trusted_ca'] == {'filename': mesh_pki['root.pem']}
    assert ('inbound-plaintext' in chains) == (mode == 'PERMISSIVE')


def test_an_unknown_mtls_mode_is_refused(mesh_pki):
    with pytest.raises(ValueError, match='DISABLE'):
        bootstrap.filter_chains('DISABLE', mesh_pki['cert-chain.pem'], mesh_pki['key.pem'], mesh_pki['root.pem'], 'cluster.local')


def test_workload_cert_validity_renewal_and_chain_check(mesh_pki, tmp_path):
    with open(mesh_pki['cert-chain.pem'], encoding='ascii') as handle:
        chain = [handle.read()]
    with open(mesh_pki['key.pem'], encoding='ascii') as handle:
        cert = identity.WorkloadCert(chain, handle.read())
    assert cert.valid()
    assert cert.not_before < cert.renew_at() < cert.not_after
    with open(mesh_pki['root.pem'], encoding='ascii') as handle:
        identity.verify_chain(chain, handle.read())
    with pytest.raises(identity.IdentityError, match='does not chain to root-cert.pem'):
        identity.verify_chain(chain, chain[0])
    cert.write(str(tmp_path))
    assert os.stat(tmp_path / 'key.pem').st_mode & 0o777 == 0o600


@pytest.fixture
def listener():
    sock = socket.create_server(('127.0.0.1', 0))
    yield sock
    sock.close()


def test_probe_thresholds_decide_health_transitions(listener):
    probe = {'tcpSocket': {'port': listener.getsockname()[1]}, 'failureThreshold': 2, 'periodSeconds': 1}
    tracker = probes.ProbeTracker(probe, 0)
    assert tracker.run(0) and tracker.healthy
    listener.close()
    assert not tracker.run(1) and tracker.healthy           # one failure: not yet
    assert tracker.run(2) and not tracker.healthy           # the second in a row
    assert 'cannot connect to 127.0.0.1' in tracker.message


def test_http_probe_checks_the_status(listener):
    port = listener.getsockname()[1]

    def answer():
        connection, _address = listener.accept()
        connection.recv(4096)
        connection.sendall(b'HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
        connection.close()
    threading.Thread(target=answer, daemon=True).start()
    assert probes.run_once({'httpGet': {'port': port, 'path': '/ready'}}) == 'GET /ready on port %d answered HTTP 500' % port


def test_status_port_answers_503_with_the_reason_then_200():
    state = {'ready': (False, 'cannot resolve istiod.istio-system.svc')}
    server = status.StatusServer(lambda: state['ready'], address='127.0.0.1', port=0).start()
    url = 'http://127.0.0.1:%d/healthz/ready' % server.port
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=5)  # pylint: disable=consider-using-with
        assert refused.value.code == 503 and b'cannot resolve istiod' in refused.value.read()
        state['ready'] = (True, None)
        with urllib.request.urlopen(url, timeout=5) as answer:
            assert answer.status == 200
    finally:
        server.stop()


def test_agent_without_a_hosts_entry_is_not_ready_and_says_why(tmp_path, caplog):
    stubs.importable()
    # Imported once the stubs are importable: the agent's proxy module needs them.
    from lab.istio.sidecar.agent import proxy  # pylint: disable=import-outside-toplevel
    paths = _bundle(tmp_path)
    agent = proxy.Agent(paths, envoy_path=build.envoy_binary(), pod_name='vm-1', ip='127.0.0.1')
    runner = threading.Thread(target=agent.run, daemon=True)
    runner.start()
    try:
        wait_for(lambda: agent.problem != 'starting', timeout=30, what='the agent past "starting"')
        ready, reason = agent.readiness()
        assert not ready
        assert 'cannot resolve istiod.istio-system.svc' in reason
        assert any('not ready: ' + reason == record.getMessage() for record in caplog.records)
    finally:
        agent.stop()
        runner.join(timeout=30)
    assert not runner.is_alive()
