"""The world the vm_sidecar lab tests converge a VM in: the VPC with an isolated controller, cluster ``west``
(its network namespace, a real control plane with Istio installed by the real istioctl over the plug-in CA, the
real istiod run for its pod, and the east-west gateway's passthrough to it at the gateway's LoadBalancer address in
the cluster's namespace, as lab.world wires a GKE cluster), the release host serving the real release and the real
istio-sidecar.deb, and one booted lab VM reached over SSH.

Ansible runs on the host (so it reaches the control plane and the stand-ins on the host's loopback) and reaches
the VM from the controller's namespace: OpenSSH's ProxyCommand relays through ``tests.support.tcp_relay`` run there.
"""

import base64
import contextlib
import datetime
import json
import os
import pathlib
import subprocess
import sys
import textwrap

from cryptography.hazmat.primitives import serialization

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import certificates, istio_operator
from lab.internet.client import client_env
from lab.internet.proxy import ConnectProxy
from lab.internet.registry import HostRegistry
from lab.istio.release import RELEASE
from lab.istio.release_host import ReleaseHost
from lab.istio.testing import istioctl_install, running_cluster_istio
from lab.net import netns
from lab.net.commands import wait_for
from lab.net.vpc import Vpc
from lab.pki import LabCA
from lab.vms.fleet import Fleet
from lab.world import lb_range
from tests.support.kubectl import Kubectl
from vm_lab import unique_names

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ISTIO_VERSION = RELEASE
# The collection's control plane settings (istio_install's), as the lab inventory gives them: auto-registration and
# health checks of WorkloadEntries, the east-west gateway.
ISTIO_SETTINGS = {'version': ISTIO_VERSION, 'profile': 'default', 'mesh_id': 'mesh1', 'cluster_name': 'west',
                  'eastwest_gateway': True, 'trust_domain': 'cluster.local'}
NAMESPACE = 'default'
VM_NAME = 'istio-gce'
VM_USER = 'ansible'
PRODUCT_PORT = 3550
STRICT_MTLS = textwrap.dedent('''
    apiVersion: security.istio.io/v1
    kind: PeerAuthentication
    metadata: {name: default, namespace: istio-system}
    spec: {mtls: {mode: STRICT}}
    ''')
GCE_DEFAULT_RULES = [
    {'name': 'default-allow-ssh', 'priority': 65534, 'sourceRanges': ['0.0.0.0/0'],
     'allowed': [{'IPProtocol': 'tcp', 'ports': ['22']}]},
    {'name': 'default-allow-internal', 'priority': 65534, 'sourceRanges': ['10.128.0.0/9'],
     'allowed': [{'IPProtocol': 'tcp', 'ports': ['0-65535']}, {'IPProtocol': 'udp', 'ports': ['0-65535']},
                 {'IPProtocol': 'icmp'}]},
]


class MeshCA:
    """The mesh's plug-in CA, made with cert_issue's module_utils: a root and cluster west's intermediate (the
    ``cacerts`` secret istiod signs with), and workload certificates from that intermediate for test clients."""

    def __init__(self, directory, name='Root CA'):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        now = datetime.datetime.now(datetime.timezone.utc)
        self._not_before, self._not_after = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=30)
        self.root_key = certificates.generate_key('ecdsa-secp256r1')
        self.root = certificates.issue(certificates.root_profile(name, 'Istio', 'ecdsa-secp256r1'), self.root_key,
                                       self._not_before, self._not_after)
        self.key = certificates.generate_key('ecdsa-secp256r1')
        profile = certificates.intermediate_profile('Intermediate CA', 'Istio', 'west', 'istiod.istio-system.svc',
                                                    'ecdsa-secp256r1')
        self.cert = certificates.issue(profile, self.key, self._not_before, self._not_after, self.root, self.root_key)

    @property
    def root_pem(self):
        return _pem(self.root)

    def cacerts(self):
        """The ``cacerts`` Secret of the plug-in CA tutorial step."""
        files = {'root-cert.pem': self.root_pem, 'ca-cert.pem': _pem(self.cert), 'ca-key.pem': _key_pem(self.key),
                 'cert-chain.pem': _pem(self.cert) + self.root_pem}
        return {'apiVersion': 'v1', 'kind': 'Secret', 'type': 'Opaque',
                'metadata': {'name': 'cacerts', 'namespace': 'istio-system'},
                'data': {name: base64.b64encode(data.encode()).decode() for name, data in files.items()}}

    def workload_files(self, namespace, service_account):
        """Key, chain (leaf + intermediate) and root of ``spiffe://cluster.local/ns/NS/sa/SA``, written to files."""
        key = certificates.generate_key('ecdsa-secp256r1')
        spiffe = f'spiffe://cluster.local/ns/{namespace}/sa/{service_account}'
        leaf = certificates.issue(certificates.workload_profile(spiffe, 'ecdsa-secp256r1'), key, self._not_before,
                                  self._not_after, self.cert, self.key)
        paths = {}
        for name, data in (('key.pem', _key_pem(key)), ('cert-chain.pem', _pem(leaf) + _pem(self.cert)),
                           ('root-cert.pem', self.root_pem)):
            paths[name] = os.path.join(self.directory, f'{service_account}-{name}')
            fd = os.open(paths[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(fd, 'w', encoding='ascii') as handle:
                handle.write(data)
        return paths


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _instance(ssh_line):
    zone = 'https://compute.googleapis.com/compute/v1/projects/lab-project/zones/us-west2-a'
    return {'name': VM_NAME, 'zone': zone, 'tags': {'items': ['istio-vm']},
            'networkInterfaces': [
                {'network': 'https://compute.googleapis.com/compute/v1/projects/lab-project/global/networks/default'}],
            'metadata': {'items': [{'key': 'ssh-keys', 'value': ssh_line}]}}


class SidecarLab:
    """Create with a scratch ``directory``; ``close()`` removes everything it started."""

    def __init__(self, directory):
        self.directory = directory
        self.names = unique_names()
        self.vpc = Vpc(self.names, isolated_controller=True)
        self._cluster_parts = contextlib.ExitStack()
        self.kube = None
        self.fleet = None
        self.proxy = None
        self.releases = None
        self.istio = None
        self.vpc.create()
        try:
            self._start(directory)
        except BaseException:
            self.close()
            raise

    def _start(self, directory):
        self._start_internet(directory)
        self.cluster = self.vpc.add_cluster('west', 1)
        # As lab.world wires it: a real control plane, LoadBalancer addresses in the cluster's namespace, the real
        # istiod for each istiod pod and the east-west gateway's passthrough routes (lab.istio.cluster).
        self.kube, self.istio = self._cluster_parts.enter_context(running_cluster_istio(
            os.path.join(directory, 'cluster'), self.cluster, lb_range=str(lb_range(1))))
        self.kubectl = Kubectl(self.kube.kubeconfig, pathlib.Path(_mkdir(directory, 'kubectl-home')))
        self.mesh_ca = MeshCA(os.path.join(directory, 'mesh-ca'))
        self._install_istio()
        self.fleet = Fleet(self.vpc, os.path.join(directory, 'fleet'))
        self.fleet.apply_firewalls('default', GCE_DEFAULT_RULES)
        self.key = os.path.join(directory, VM_USER)
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', VM_USER, '-f', self.key], check=True)
        with open(self.key + '.pub', encoding='ascii') as handle:
            self.address = self.fleet.create_instance(_instance(f'{VM_USER}:{handle.read().strip()}'))
        self.vm = self.fleet.vm(VM_NAME)
        self.known_hosts = os.path.join(directory, 'known_hosts')
        with open(self.known_hosts, 'w', encoding='ascii') as handle:
            handle.writelines(f'{self.address} {key}\n' for key in self.fleet.host_public_keys(VM_NAME))

    def _start_internet(self, directory):
        """The lab internet with Istio's real downloads (the release, istio-sidecar.deb) at their real URLs;
        ``self.env`` is the environment under which the controller's clients (get_url) see it as the internet."""
        lab_ca = LabCA(_mkdir(directory, 'lab-pki'))
        registry = HostRegistry()
        self.releases_dir = _mkdir(directory, 'releases')
        self.releases = ReleaseHost(lab_ca, self.releases_dir, [ISTIO_VERSION])
        self.releases.register(registry)
        self.releases.start()
        self.proxy = ConnectProxy(registry, port=0).start()
        self.env = client_env(self.proxy.url, lab_ca.cert_path)

    def _install_istio(self):
        """The plug-in CA's ``cacerts``, then the real ``istioctl install`` (the tutorial's order) of the collection's
        IstioOperator, istiod exposed through the east-west gateway (expose-istiod's Gateway and VirtualService), and
        mesh-wide STRICT mTLS."""
        self.kubectl.run('apply', '-f', '-', stdin=json.dumps({'apiVersion': 'v1', 'kind': 'Namespace',
                                                               'metadata': {'name': 'istio-system'}}))
        self.kubectl.run('apply', '-f', '-', stdin=json.dumps(self.mesh_ca.cacerts()))
        installed = istioctl_install(self.kube, istio_operator.build_operator(ISTIO_SETTINGS))
        assert installed.returncode == 0, installed.stdout + installed.stderr
        self.kubectl.wait_for('configmap', 'istio-ca-root-cert', NAMESPACE, timeout=120)  # istiod's own writer
        gateway = self.kubectl.get('service', 'istio-eastwestgateway', 'istio-system')
        self.gateway_ip = gateway['status']['loadBalancer']['ingress'][0]['ip']
        self.kubectl.run('apply', '-f', '-', stdin='\n---\n'.join(
            json.dumps(obj) for obj in istio_operator.expose_istiod('')))
        wait_for(lambda: 15012 in self.istio.gateway.routes, timeout=60,
                 what=f'the east-west gateway passing {self.gateway_ip}:15012 to istiod', interval=0.2)
        self.kubectl.run('apply', '-f', '-', stdin=STRICT_MTLS)

    def inventory(self, path, **host_vars):
        """An inventory with the VM in group ``vm``, reached as the metadata user with become."""
        relay = (f'nsenter --net={netns.netns_path(self.vpc.controller_netns)} env PYTHONPATH={REPO} '
                 f'{sys.executable} -m tests.support.tcp_relay %h %p')
        ssh_args = (f"-F /dev/null -o IdentitiesOnly=yes -o UserKnownHostsFile={self.known_hosts} "
                    f"-o StrictHostKeyChecking=yes -o ProxyCommand='{relay}'")
        variables = {'ansible_host': self.address, 'ansible_user': VM_USER, 'ansible_ssh_private_key_file': self.key,
                     'ansible_become': True, 'ansible_python_interpreter': '/usr/bin/python3',
                     'ansible_ssh_common_args': ssh_args}
        variables.update(host_vars)
        with open(path, 'w', encoding='utf-8') as handle:
            json.dump({'vm': {'hosts': {VM_NAME: variables}}}, handle)
        return path

    def vm_run(self, command):
        """Run ``command`` (a shell line) as root inside the VM; return the CompletedProcess."""
        return subprocess.run(self.vm.command(['/bin/sh', '-c', command]), capture_output=True, text=True,
                              timeout=60, check=False)

    def list_products(self, workdir, stubs_dir, tls_dir=None, peer=None):
        """ListProducts on the VM from the cluster's node (``tests.support.mesh_grpc_call``).

        From the node address, which default-allow-internal lets reach every port, so a refusal is the sidecar's.
        Not from a pod address: the lab applies GCE's firewall inside the VM's namespace on the input hook, after
        istio-start.sh's REDIRECT has turned port 3550 into Envoy's 15006, so a rule opening 3550 to pods would not
        let them through as it does on GCE, where the firewall sits outside the VM."""
        os.makedirs(workdir, exist_ok=True)
        argv = [sys.executable, '-m', 'tests.support.mesh_grpc_call', '--address', self.address,
                '--port', str(PRODUCT_PORT), '--source', str(self.cluster.node_ip), '--stubs', stubs_dir,
                '--workdir', workdir]
        if tls_dir:
            argv += ['--tls', tls_dir, '--peer', peer]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.path.join(REPO, '.build', 'collections')]))
        called = subprocess.run(netns.command(self.cluster.netns, argv), capture_output=True, text=True, timeout=120,
                                env=env, check=False)
        assert called.returncode == 0, called.stdout + called.stderr
        return json.loads(called.stdout.strip().splitlines()[-1])

    def close(self):
        if self.fleet is not None:
            for name in self.fleet.names():
                self.fleet.delete_instance(name)
        self._cluster_parts.close()     # istiod, the gateway, the LoadBalancer controller, the control plane
        if self.proxy is not None:
            self.proxy.stop()
        if self.releases is not None:
            self.releases.stop()
        self.vpc.destroy()


def _mkdir(parent, name):
    path = os.path.join(parent, name)
    os.makedirs(path, exist_ok=True)
    return path
