"""The lab's istio-sidecar.deb installed with dpkg in a real lab VM (Debian 12, systemd): the postinst's user and
directories, Envoy running on the VM, istio.service setting up and removing the capture rules, and the agent
answering 503 on :15021/healthz/ready with the reason in its journal and log when istiod's name does not resolve.
"""

import os
import shutil
import subprocess

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import vm_bundle
from lab.istio.sidecar import build
from lab.net.commands import NotReady, wait_for
from lab.net.vpc import Vpc
from lab.vms.base_root import BaseRoot
from lab.vms.fleet import Fleet
from vm_lab import leftovers, unique_names

pytestmark = pytest.mark.lab

VERSION = '1.24.2'
GROUP = {
    'apiVersion': 'networking.istio.io/v1', 'kind': 'WorkloadGroup',
    'metadata': {'name': 'productcatalog', 'namespace': 'shop'},
    'spec': {'template': {'serviceAccount': 'catalog', 'ports': {'grpc': 3550}}},
}
INSTANCE = {
    'name': 'sidecar-vm', 'zone': 'https://compute.googleapis.com/compute/v1/projects/lab-project/zones/us-west2-a',
    'networkInterfaces': [{'network': 'https://compute.googleapis.com/compute/v1/projects/lab-project/global/networks/default'}],
    'metadata': {'items': []},
}


class SidecarVm:
    """One lab VM with the package installed."""

    def __init__(self, directory):
        self.names = unique_names()
        self.vpc = Vpc(self.names, isolated_controller=True)
        self.vpc.create()
        self.fleet = Fleet(self.vpc, os.path.join(directory, 'state'), BaseRoot())
        self.fleet.create_instance(INSTANCE)
        self.vm = self.fleet.vm('sidecar-vm')
        deb = build.build(os.path.join(directory, 'deb'), VERSION)
        shutil.copyfile(deb, os.path.join(self.vm.root, 'root', 'istio-sidecar.deb'))
        self.installed = self.run('dpkg', '-i', '/root/istio-sidecar.deb')

    def run(self, *argv, check=False, stdin=''):
        return subprocess.run(self.vm.command(list(argv)), input=stdin, capture_output=True, text=True, timeout=120,
                              check=check)

    def put(self, path, text, mode=0o644):
        """A bundle file, placed as the vm_sidecar role places it (owner istio-proxy). Written from inside the VM:
        its paths cross absolute symlinks (/etc/istio) that must resolve in the VM, not on the host."""
        self.run('install', '-D', '-o', 'istio-proxy', '-g', 'istio-proxy', '-m', '%o' % mode, '/dev/stdin', path,
                 stdin=text, check=True)

    def readiness(self):
        answer = self.run('curl', '-s', '-w', '\n%{http_code}', 'http://localhost:15021/healthz/ready').stdout
        body, _newline, code = answer.rpartition('\n')
        return code, body

    def remove(self):
        self.fleet.delete_instance('sidecar-vm')
        self.vpc.destroy()


@pytest.fixture(scope='module')
def sidecar_vm(tmp_path_factory):
    lab = SidecarVm(str(tmp_path_factory.mktemp('sidecar-vm')))
    yield lab
    lab.remove()
    assert not leftovers(lab.names)


def test_dpkg_installs_it_and_postinst_prepares_the_vm(sidecar_vm):
    assert sidecar_vm.installed.returncode == 0, sidecar_vm.installed.stderr
    user = sidecar_vm.run('getent', 'passwd', 'istio-proxy', check=True).stdout.split(':')
    assert user[5] == '/var/lib/istio'
    assert int(user[2]) < 1000        # a system user
    assert sidecar_vm.run('readlink', '/etc/istio', check=True).stdout.strip() == '/var/lib/istio'
    owners = sidecar_vm.run('stat', '-c', '%U:%G %n', '/etc/certs', '/var/lib/istio/envoy', '/var/lib/istio/proxy',
                            '/var/lib/istio/config/mesh', '/var/log/istio', check=True).stdout.splitlines()
    assert all(line.startswith('istio-proxy:istio-proxy ') for line in owners), owners
    status = sidecar_vm.run('dpkg-query', '-W', '-f', '${Status} ${Version}', 'istio-sidecar', check=True).stdout
    assert status == 'install ok installed %s' % VERSION


def test_envoy_runs_on_the_vm(sidecar_vm):
    version = sidecar_vm.run('/usr/local/bin/envoy', '--version')
    assert version.returncode == 0 and 'version:' in version.stdout, version.stderr


def test_service_captures_inbound_and_says_why_it_is_not_ready(sidecar_vm):
    inputs = vm_bundle.BundleInputs(GROUP, {}, 'west', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
                                    'a.b.c', '')        # no gateway address: no hosts line for istiod
    files = vm_bundle.render(inputs)
    sidecar_vm.put('/var/lib/istio/envoy/cluster.env', files['cluster.env'])
    sidecar_vm.put('/etc/istio/config/mesh', files['mesh.yaml'])
    sidecar_vm.put('/etc/certs/root-cert.pem', files['root-cert.pem'])
    sidecar_vm.put('/var/run/secrets/tokens/istio-token', files['istio-token'], mode=0o600)
    sidecar_vm.run('systemctl', 'start', 'istio', check=True)

    def not_ready_with_a_reason():
        code, body = sidecar_vm.readiness()
        if code != '503' or 'starting' in body:
            raise NotReady('readiness %s %s' % (code, body.strip()))
        return body
    reason = wait_for(not_ready_with_a_reason, timeout=60, what='pilot-agent on :15021')
    assert 'cannot resolve istiod.istio-system.svc' in reason
    journal = sidecar_vm.run('journalctl', '-u', 'istio', '--no-pager', '-o', 'cat', check=True).stdout
    log = sidecar_vm.run('cat', '/var/log/istio/istio.log', check=True).stdout
    for text in (journal, log):
        assert 'not ready: certificate from istiod.istio-system.svc:15012 failed: cannot resolve istiod.istio-system.svc' in text
    agent_user = sidecar_vm.run('ps', '-o', 'user=', '-C', 'pilot-agent', check=True).stdout.split()
    assert agent_user == ['istio-proxy']

    nat = sidecar_vm.run('iptables-save', '-t', 'nat', check=True).stdout
    assert '-A PREROUTING -p tcp -j ISTIO_INBOUND' in nat
    assert '-A ISTIO_INBOUND -p tcp -m tcp --dport 3550 -j ISTIO_IN_REDIRECT' in nat
    assert '-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006' in nat

    sidecar_vm.run('systemctl', 'stop', 'istio', check=True)
    assert 'ISTIO' not in sidecar_vm.run('iptables-save', '-t', 'nat', check=True).stdout
