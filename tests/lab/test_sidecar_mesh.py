"""End to end: the lab's istio-sidecar.deb in a real lab VM talks to the lab's istiod, which listens on a
LoadBalancer address of the cluster's namespace as the east-west gateway would expose it.

The VM gets a bundle as the vm_sidecar role places it; the agent gets its certificate, opens the xDS stream,
auto-registers, and Envoy serves the workload's port over mTLS (a PeerAuthentication makes the mesh STRICT): a client
with a mesh certificate reaches a local server through Envoy, plaintext and certificate-less clients do not. Then the
failures an operator meets: no hosts entry, a root that does not sign istiod's certificate, an expired token, each a
503 with the reason in the agent's log.
"""

import os
import shutil
import ssl
import subprocess
import textwrap

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import vm_bundle
from lab.istio.istiod import testing as istiod_testing
from lab.istio.istiod.server import PORT as ISTIOD_PORT, Istiod
from lab.istio.sidecar import build
from lab.kubernetes.testing import running_control_plane, signed_service_account_token
from lab.net import netns
from lab.net.commands import NotReady, wait_for
from lab.net.vpc import Vpc
from lab.vms.base_root import BaseRoot
from lab.vms.fleet import Fleet
from vm_lab import leftovers, unique_names

pytestmark = pytest.mark.lab

VERSION = '1.24.2'
NAMESPACE, ACCOUNT, GROUP_NAME, SERVICE_PORT = 'shop', 'catalog', 'productcatalog', 3550
GROUP = {
    'apiVersion': 'networking.istio.io/v1', 'kind': 'WorkloadGroup',
    'metadata': {'name': GROUP_NAME, 'namespace': NAMESPACE},
    'spec': {'metadata': {'labels': {'app': GROUP_NAME}},
             'template': {'serviceAccount': ACCOUNT, 'ports': {'grpc': SERVICE_PORT}},
             'probe': {'tcpSocket': {'port': SERVICE_PORT}, 'periodSeconds': 1}},
}
INSTANCE = {
    'name': 'mesh-vm', 'zone': 'https://compute.googleapis.com/compute/v1/projects/lab-project/zones/us-west2-a',
    'networkInterfaces': [
        {'network': 'https://compute.googleapis.com/compute/v1/projects/lab-project/global/networks/default'}],
    'metadata': {'items': []},
}
# GCE's default rule for the network's own ranges (the controller is on the VM subnet). The lab firewall sees a
# captured connection after the redirect, on port 15006, so a rule opening only the service port would drop it.
ALLOW_INTERNAL = {'name': 'default-allow-internal', 'priority': 65534, 'sourceRanges': ['10.128.0.0/9'],
                  'allowed': [{'IPProtocol': 'tcp', 'ports': ['0-65535']}]}
# A TCP echo server standing in for the workload: it answers each line with "echo: <line>".
ECHO_SERVER = textwrap.dedent('''
    import socketserver
    class Echo(socketserver.StreamRequestHandler):
        def handle(self):
            for line in self.rfile:
                self.wfile.write(b"echo: " + line)
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer(("0.0.0.0", %d), Echo).serve_forever()
''' % SERVICE_PORT)


class MeshLab:
    """A cluster (a real control plane + istiod on a LoadBalancer address) and one VM with the package."""

    def __init__(self, directory, kube):
        self.directory = directory
        self.kube = kube
        self.api = istiod_testing.kube_api(kube)
        self.ca = istiod_testing.install_for_istiod(kube, os.path.join(directory, 'ca'), cluster_id='west')
        self.api.create('/api/v1/namespaces', {'metadata': {'name': NAMESPACE}})
        self.api.create('/api/v1/namespaces/%s/serviceaccounts' % NAMESPACE, {'metadata': {'name': ACCOUNT}})
        self.api.create('/apis/networking.istio.io/v1/namespaces/%s/workloadgroups' % NAMESPACE, GROUP)
        self.api.create('/apis/security.istio.io/v1/namespaces/istio-system/peerauthentications', {
            'apiVersion': 'security.istio.io/v1', 'kind': 'PeerAuthentication',
            'metadata': {'name': 'default', 'namespace': 'istio-system'}, 'spec': {'mtls': {'mode': 'STRICT'}}})

        self.names = unique_names()
        self.vpc = Vpc(self.names, isolated_controller=True)
        self.vpc.create()
        self.cluster = self.vpc.add_cluster('west', 1)
        self.gateway = self.vpc.next_free_lb_address()
        self.cluster.add_lb_address(self.gateway)
        self.istiod = Istiod(self.api, netns.listen_tcp(self.cluster.netns, self.gateway, ISTIOD_PORT),
                             grace_seconds=0.5, policy_poll_seconds=0.2)
        self.istiod.start()
        self.fleet = Fleet(self.vpc, os.path.join(directory, 'state'), BaseRoot())
        self.fleet.apply_firewalls('default', [ALLOW_INTERNAL])
        self.address = self.fleet.create_instance(INSTANCE)
        self.vm = self.fleet.vm('mesh-vm')
        deb = build.build(os.path.join(directory, 'deb'), VERSION)
        shutil.copyfile(deb, os.path.join(self.vm.root, 'root', 'istio-sidecar.deb'))
        self.run('dpkg', '-i', '/root/istio-sidecar.deb', check=True)
        self.run('systemd-run', '--unit=workload', 'python3', '-c', ECHO_SERVER, check=True)

    def run(self, *argv, check=False, stdin=''):
        return subprocess.run(self.vm.command(list(argv)), input=stdin, capture_output=True, text=True, timeout=120,
                              check=check)

    def token(self, expiration_seconds=3600):
        """A token of the VM's service account signed with the cluster's key (below 0 s: one that expired)."""
        account = self.api.get('/api/v1/namespaces/%s/serviceaccounts/%s' % (NAMESPACE, ACCOUNT))
        return signed_service_account_token(self.kube, account, ['istio-ca'], expiration_seconds)

    def place_bundle(self, root_pem=None, hosts=True, token=None):
        """The bundle files where the vm_sidecar role puts them, written from inside the VM (its paths cross the
        absolute /etc/istio symlink, which must resolve in the VM)."""
        with open(self.ca['root-cert.pem'], encoding='ascii') as handle:
            mesh_root = handle.read()
        inputs = vm_bundle.BundleInputs(GROUP, {'trustDomain': 'cluster.local'}, 'west', root_pem or mesh_root,
                                        token or self.token(), str(self.gateway), auto_register=True)
        files = vm_bundle.render(inputs)
        for path, name, mode in (('/var/lib/istio/envoy/cluster.env', 'cluster.env', '644'),
                                 ('/etc/istio/config/mesh', 'mesh.yaml', '644'),
                                 ('/etc/certs/root-cert.pem', 'root-cert.pem', '644'),
                                 ('/var/run/secrets/tokens/istio-token', 'istio-token', '600')):
            self.run('install', '-D', '-o', 'istio-proxy', '-g', 'istio-proxy', '-m', mode, '/dev/stdin', path,
                     stdin=files[name], check=True)
        hosts_file = self.run('cat', '/etc/hosts', check=True).stdout
        kept = ''.join(line + '\n' for line in hosts_file.splitlines() if 'istiod' not in line)
        self.run('tee', '/etc/hosts', stdin=kept + (files['hosts'] if hosts else ''), check=True)

    def restart(self):
        self.run('systemctl', 'stop', 'istio', check=True)
        self.run('truncate', '--no-create', '-s', '0', '/var/log/istio/istio.log')
        self.run('systemctl', 'start', 'istio', check=True)

    def readiness(self):
        answer = self.run('curl', '-s', '-w', '\n%{http_code}', 'http://localhost:15021/healthz/ready').stdout
        body, _newline, code = answer.rpartition('\n')
        return code, body.strip()

    def wait_readiness(self, code, contains='', timeout=60):
        def reached():
            now, body = self.readiness()
            if now != code or contains not in body or body == 'starting':
                raise NotReady('readiness %s %s' % (now, body))
            return body
        return wait_for(reached, timeout=timeout, what='VM sidecar readiness %s' % code)

    def log(self):
        return self.run('cat', '/var/log/istio/istio.log', check=True).stdout

    def connect(self):
        """A TCP connection from the controller's namespace to the workload port (captured to Envoy's inbound
        listener on the VM)."""
        return netns.connect_tcp(self.vpc.controller_netns, self.address, SERVICE_PORT, timeout=10)

    def call(self, cert=None, raw=None):
        """One line over TLS from the controller's namespace to the workload port (over ``raw``, a connection from
        ``connect()``, if given), verifying the VM's certificate against the mesh root (no host name: workload
        certificates carry only the SPIFFE URI); returns the answer."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.load_verify_locations(self.ca['root-cert.pem'])
        if cert:
            context.load_cert_chain(cert['cert.pem'], cert['key.pem'])
        with raw or self.connect() as raw, context.wrap_socket(raw) as tls:
            tls.sendall(b'hello\n')
            return tls.recv(100)

    def close(self):
        self.istiod.stop()
        self.api.close()
        self.fleet.delete_instance('mesh-vm')
        self.vpc.destroy()


@pytest.fixture(scope='module')
def mesh(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp('mesh'))
    with running_control_plane(os.path.join(directory, 'kube')) as kube:
        lab = MeshLab(directory, kube)
        try:
            yield lab
        finally:
            lab.close()
    assert not leftovers(lab.names)


@pytest.fixture(scope='module')
def client_cert(mesh):
    """A mesh client certificate (another workload's identity) from the cluster's plug-in CA, made with openssl."""
    directory = os.path.join(mesh.directory, 'client')
    os.makedirs(directory)
    paths = {name: os.path.join(directory, name) for name in ('key.pem', 'csr.pem', 'cert.pem', 'ext')}
    subprocess.run(['openssl', 'req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', paths['key.pem'],
                    '-subj', '/', '-out', paths['csr.pem']], check=True, capture_output=True)
    with open(paths['ext'], 'w', encoding='ascii') as handle:
        handle.write('subjectAltName=critical,URI:spiffe://cluster.local/ns/shop/sa/frontend\n')
    subprocess.run(['openssl', 'x509', '-req', '-in', paths['csr.pem'], '-CA', mesh.ca['ca-cert.pem'], '-CAkey',
                    mesh.ca['ca-key.pem'], '-CAcreateserial', '-days', '1', '-extfile', paths['ext'], '-out',
                    paths['cert.pem']], check=True, capture_output=True)
    with open(paths['cert.pem'], 'a', encoding='ascii') as chain, \
            open(mesh.ca['ca-cert.pem'], encoding='ascii') as intermediate:
        chain.write(intermediate.read())
    return paths


def test_sidecar_gets_ready_and_registers_the_vm(mesh):
    mesh.place_bundle()
    mesh.restart()
    mesh.wait_readiness('200')
    log = mesh.log()
    assert 'workload certificate for spiffe://cluster.local/ns/shop/sa/catalog valid until' in log
    assert 'inbound mTLS STRICT' in log
    entry_path = '/apis/networking.istio.io/v1/namespaces/%s/workloadentries/%s-%s' % (
        NAMESPACE, GROUP_NAME, mesh.address)

    def healthy_entry():
        entry = mesh.api.get(entry_path) or {}
        conditions = {item['type']: item['status'] for item in (entry.get('status') or {}).get('conditions') or []}
        if conditions.get('Healthy') != 'True':
            raise NotReady('WorkloadEntry conditions: %s' % conditions)
        return entry
    entry = wait_for(healthy_entry, timeout=30, what='the auto-registered WorkloadEntry, Healthy from the probe')
    assert entry['spec']['address'] == mesh.address
    assert mesh.run('stat', '-c', '%a %U', '/etc/certs/key.pem', check=True).stdout.strip() == '600 istio-proxy'


def test_mtls_client_reaches_the_workload_through_envoy(mesh, client_cert):
    mesh.wait_readiness('200')
    assert mesh.call(client_cert) == b'echo: hello\n'


def test_plaintext_and_clients_without_a_mesh_certificate_are_refused(mesh):
    mesh.wait_readiness('200')
    with netns.connect_tcp(mesh.vpc.controller_netns, mesh.address, SERVICE_PORT) as plain:
        plain.settimeout(10)
        plain.sendall(b'hello\n')
        assert b'echo' not in plain.recv(100)
    # Connected first: a refused or unreachable port fails the test here, it cannot pass as the refusal below.
    with mesh.connect() as raw:
        # TLS 1.3: the server's refusal of the missing certificate arrives with the first read, as its alert or, when
        # the alert is lost to the close, as the end of the TLS stream (or a reset) after the handshake.
        with pytest.raises((ssl.SSLError, ConnectionResetError)) as refused:
            mesh.call(raw=raw)
    if isinstance(refused.value, ssl.SSLError) and not isinstance(refused.value, ssl.SSLEOFError):
        assert refused.value.reason == 'TLSV13_ALERT_CERTIFICATE_REQUIRED', refused.value


@pytest.mark.parametrize('broken, reason', [
    ({'hosts': False}, 'cannot resolve istiod.istio-system.svc'),
    ({'root_pem': 'self-signed'}, 'TLS to istiod failed: certificate verify failed'),
    ({'token': 'expired'}, 'istiod rejected the token'),
])
def test_a_broken_bundle_is_a_503_with_the_reason_logged(mesh, tmp_path, broken, reason):
    if broken.get('root_pem'):
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', str(tmp_path / 'k'),
                        '-out', str(tmp_path / 'c'), '-subj', '/O=Other mesh', '-days', '1'], check=True,
                       capture_output=True)
        broken['root_pem'] = (tmp_path / 'c').read_text()
    if broken.get('token'):
        broken['token'] = mesh.token(expiration_seconds=-60)
    try:
        mesh.place_bundle(**broken)
        mesh.restart()
        body = mesh.wait_readiness('503', contains=reason)
        assert 'not ready: ' + body in mesh.log()
        if broken.get('token'):
            assert 'expired' in body
    finally:
        mesh.place_bundle()
        mesh.restart()
    mesh.wait_readiness('200')
