"""The vm_workload role in systemd mode on a lab VM (lab.vms): Debian 12 booted with systemd-nspawn on a lab VPC,
reached over SSH as a user of the instance's ssh-keys metadata, with sudo, as on Compute Engine.

The VPC's controller link lives in a network namespace of this run's own (parallel runs do not collide), so
Ansible's ssh and the test's clients run inside that namespace.
"""

import json
import os
import shlex
import subprocess
import sys
import textwrap

import pytest

from lab.net import netns
from lab.net.vpc import Vpc
from lab.vms.base_root import BaseRoot
from lab.vms.fleet import Fleet
from lab.workloads.productcatalog import build, stubs
from tests.lab.vm_lab import leftovers, unique_names

pytestmark = pytest.mark.lab

# GCE's default network lets its own range (the controller's address included) reach every port.
ALLOW_INTERNAL = {'name': 'default-allow-internal', 'priority': 65534, 'sourceRanges': ['10.128.0.0/9'],
                  'allowed': [{'IPProtocol': 'tcp', 'ports': ['0-65535']}]}
PROJECT_URL = 'https://compute.googleapis.com/compute/v1/projects/lab-project'

ROLE = 'meshbridge.istio_vm.vm_workload : '
PLAYBOOK = """
- name: Run the VM's workload
  hosts: vm
  gather_facts: false
  become: true
  roles:
    - role: meshbridge.istio_vm.vm_workload
"""

# A gRPC client in a process of its own: gRPC connects from its own threads, which a setns(2) on the calling
# thread would not move into the controller's namespace.
LIST_PRODUCTS = textwrap.dedent("""
    import sys
    import grpc
    sys.path.insert(0, sys.argv[1])
    import productcatalog_pb2, productcatalog_pb2_grpc
    with grpc.insecure_channel(sys.argv[2] + ':3550') as channel:
        stub = productcatalog_pb2_grpc.ProductCatalogServiceStub(channel)
        reply = stub.ListProducts(productcatalog_pb2.Empty(), timeout=5)
    print(' '.join(product.id for product in reply.products))
""")


class LabVm:
    """Instance ``istio-gce`` booted on ``fleet``, with what the tests need to reach it from the controller."""

    name = 'istio-gce'

    def __init__(self, fleet, controller_netns, directory):
        self.controller_netns = controller_netns
        self.key = os.path.join(directory, 'deployer')
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', self.key], check=True)
        with open(self.key + '.pub', encoding='ascii') as handle:
            public_key = handle.read().strip()
        fleet.apply_firewalls('default', [ALLOW_INTERNAL])
        self.address = fleet.create_instance({
            'name': self.name, 'zone': PROJECT_URL + '/zones/us-west2-a',
            'networkInterfaces': [{'network': PROJECT_URL + '/global/networks/default'}],
            'metadata': {'items': [{'key': 'ssh-keys', 'value': 'deployer:' + public_key}]},
        })
        self.machine = fleet.vm(self.name)
        self.known_hosts = os.path.join(directory, 'known_hosts')
        with open(self.known_hosts, 'w', encoding='ascii') as handle:
            handle.writelines('%s %s\n' % (self.address, key) for key in fleet.host_public_keys(self.name))
        # Ansible's ssh, run in the controller's namespace; piped transfers need no sftp or scp besides.
        self.ssh_executable = os.path.join(directory, 'ssh-from-controller')
        with open(self.ssh_executable, 'w', encoding='ascii') as handle:
            handle.write('#!/bin/sh\nexec %s "$@"\n' % shlex.join(netns.command(controller_netns, ['ssh'])))
        os.chmod(self.ssh_executable, 0o755)

    def run(self, *command):
        """``command`` run in the VM as root; its stdout."""
        return subprocess.run(self.machine.command(list(command)), capture_output=True, text=True, check=True).stdout

    def connect(self, port):
        """How a TCP connection from the controller to the VM's address and ``port`` ends: ``'accepted'``, or
        ``'refused'`` when the VM's kernel answers with a reset (nothing listens there). Anything else (a timeout,
        no route to the address) fails the test: a VM that is down or unreachable must not pass for a closed port."""
        try:
            netns.connect_tcp(self.controller_netns, self.address, port, timeout=5).close()
        except ConnectionRefusedError:
            return 'refused'
        except OSError as exc:
            raise AssertionError(f'{self.address}:{port} is not reachable from the controller: {exc!r}') from exc
        return 'accepted'

    def inventory(self, path):
        with open(path, 'w', encoding='utf-8') as handle:
            handle.write('[vm]\n%s ansible_host=%s ansible_user=deployer ansible_ssh_private_key_file=%s '
                         'ansible_ssh_executable=%s ansible_ssh_transfer_method=piped '
                         'ansible_python_interpreter=/usr/bin/python3 '
                         "ansible_ssh_common_args='-F /dev/null -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes'\n"
                         % (self.name, self.address, self.key, self.ssh_executable, self.known_hosts))
        return path


@pytest.fixture(scope='module')
def vm(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp('lab-vm'))
    names = unique_names()
    vpc = Vpc(names, isolated_controller=True)
    vpc.create()
    fleet = Fleet(vpc, os.path.join(directory, 'state'), BaseRoot())
    try:
        yield LabVm(fleet, vpc.controller_netns, directory)
    finally:
        for name in fleet.names():
            fleet.delete_instance(name)
        vpc.destroy()
    assert not leftovers(names)


@pytest.fixture(scope='module')
def artifact(tmp_path_factory):
    return build.build(str(tmp_path_factory.mktemp('artifact')))


@pytest.fixture(scope='module')
def stubs_dir(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp('stubs'))
    stubs.generate(directory)
    return directory


def _products(vm, stubs_dir):
    listed = subprocess.run(netns.command(vm.controller_netns, [sys.executable, '-c', LIST_PRODUCTS, stubs_dir, vm.address]),
                            capture_output=True, text=True, timeout=60, check=True)
    return listed.stdout.split()


def _invocation(vm):
    return vm.run('systemctl', 'show', '--value', '-p', 'InvocationID', 'productcatalogservice.service').strip()


def test_systemd_mode_installs_is_idempotent_and_restarts_on_change(vm, artifact, stubs_dir, run_playbook, tmp_path):
    inventory = vm.inventory(str(tmp_path / 'hosts.ini'))
    service = {'name': 'productcatalogservice', 'port': 3550, 'protocol': 'grpc', 'artifact': artifact,
               'environment': {'DISABLE_PROFILER': '1'}}
    extra = {'vm_workload_mode': 'systemd', 'vm_workload_services': [service]}

    # On a VM that has never seen the service, check mode predicts the install and leaves no trace.
    predicted = run_playbook(PLAYBOOK, extra_vars=extra, inventory=inventory, check=True)
    assert predicted.changed(vm.name) > 0
    assert 'productcatalogservice' not in vm.run('ls', '/etc/systemd/system', '/opt')

    installed = run_playbook(PLAYBOOK, extra_vars=extra, inventory=inventory)
    assert installed.changed(vm.name) > 0
    assert len(_products(vm, stubs_dir)) == 9
    assert vm.run('systemctl', 'is-enabled', 'productcatalogservice.service').strip() == 'enabled'
    assert vm.run('stat', '-c', '%a', '/etc/vm_workload/productcatalogservice.env').strip() == '600'
    started = _invocation(vm)

    again = run_playbook(PLAYBOOK, extra_vars=extra, inventory=inventory)
    assert again.changed(vm.name) == 0
    assert _invocation(vm) == started

    # A new build whose catalog lost a product: check mode predicts the change and touches nothing.
    catalog = tmp_path / 'products.json'
    with open(build.DEFAULT_CATALOG, encoding='utf-8') as handle:
        products = json.load(handle)
    products['products'] = products['products'][:8]
    catalog.write_text(json.dumps(products))
    service['artifact'] = build.build(str(tmp_path / 'v2'), catalog=str(catalog))
    predicted = run_playbook(PLAYBOOK, extra_vars=extra, inventory=inventory, check=True)
    assert predicted.task(ROLE + "Copy each service's artifact to the VM", vm.name)['changed']
    assert predicted.task(ROLE + 'Restart changed workload services', vm.name)['changed']
    assert _invocation(vm) == started
    assert len(_products(vm, stubs_dir)) == 9

    upgraded = run_playbook(PLAYBOOK, extra_vars=extra, inventory=inventory)
    assert upgraded.changed(vm.name) > 0
    assert _invocation(vm) != started
    assert len(_products(vm, stubs_dir)) == 8

    # A changed environment restarts the service too, and reaches it: bound to loopback, it still passes the
    # role's health check on the VM but no longer answers on the VM's address.
    upgraded_invocation = _invocation(vm)
    service['environment'] = {'DISABLE_PROFILER': '1', 'LISTEN_ADDRESS': '127.0.0.1'}
    reconfigured = run_playbook(PLAYBOOK, extra_vars=extra, inventory=inventory)
    assert reconfigured.task(ROLE + "Write each service's environment file", vm.name)['changed']
    assert _invocation(vm) != upgraded_invocation
    assert vm.connect(3550) == 'refused'
    assert vm.connect(22) == 'accepted'  # the VM itself is up: its sshd still answers on the same address
    assert run_playbook(PLAYBOOK, extra_vars=extra, inventory=inventory).changed(vm.name) == 0


def test_missing_artifact_is_refused_before_any_change(vm, run_playbook, tmp_path):
    extra = {'vm_workload_mode': 'systemd',
             'vm_workload_services': [{'name': 'legacyapp', 'port': 8081, 'artifact': str(tmp_path / 'nothing.tar.gz')}]}
    refused = run_playbook(PLAYBOOK, extra_vars=extra, inventory=vm.inventory(str(tmp_path / 'hosts.ini')),
                           expect_failure=True)
    assert refused.failed(vm.name)
    assert refused.changed(vm.name) == 0
    message = json.dumps(refused.report)
    assert 'legacyapp' in message and 'artifact' in message
    assert vm.run('ls', '/etc/systemd/system').count('legacyapp') == 0


def test_a_program_missing_from_its_artifact_is_named_before_its_unit_starts(vm, artifact, run_playbook, tmp_path):
    # The artifact's program is bin/productcatalogservice, not the default bin/currencyservice.
    service = {'name': 'currencyservice', 'port': 7000, 'protocol': 'grpc', 'artifact': artifact}
    extra = {'vm_workload_mode': 'systemd', 'vm_workload_services': [service]}
    inventory = vm.inventory(str(tmp_path / 'hosts.ini'))
    refused = run_playbook(PLAYBOOK, extra_vars=extra, inventory=inventory, expect_failure=True)
    assert refused.failed(vm.name)
    checked = refused.task(ROLE + "Check each service's program is there and executable", vm.name)['results']
    message = ' '.join(item['msg'] for item in checked if item.get('failed'))
    assert '/opt/currencyservice/bin/currencyservice is not in its artifact' in message
    assert 'exec_start' in message
    assert 'currencyservice.service' not in vm.run('ls', '/etc/systemd/system')

    # The same artifact serves a second service on its own port once exec_start names its program.
    service['exec_start'] = 'bin/productcatalogservice'
    run_playbook(PLAYBOOK, extra_vars=extra, inventory=inventory)
    assert vm.run('systemctl', 'is-active', 'currencyservice.service').strip() == 'active'
    assert vm.connect(7000) == 'accepted'


@pytest.mark.parametrize('protocol', ['grpc', 'tcp'])
def test_a_service_that_never_answers_fails_naming_it_and_its_port(vm, artifact, run_playbook, tmp_path, protocol):
    service = {'name': 'brokenapp', 'port': 8082, 'protocol': protocol, 'artifact': artifact,
               'exec_start': '/bin/false'}
    extra = {'vm_workload_mode': 'systemd', 'vm_workload_services': [service], 'vm_workload_health_timeout': 3}
    failed = run_playbook(PLAYBOOK, extra_vars=extra, inventory=vm.inventory(str(tmp_path / 'hosts.ini')),
                          expect_failure=True)
    assert failed.failed(vm.name)
    message = failed.task(ROLE + 'Report the service that did not come up', vm.name)['msg']
    assert 'brokenapp is not answering on 127.0.0.1:8082 (%s) after 3 s' % protocol in message
