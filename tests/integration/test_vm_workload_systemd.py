"""The vm_workload role in systemd mode against a real systemd machine: a Debian 12 root booted with
systemd-nspawn in its own network namespace, reached over SSH as the lab's VMs are.

Until lab.vms provides VMs, this test boots its own (one per module, removed afterwards). The Debian root is built
once with debootstrap and cached as a tarball under ~/.cache/meshbridge-lab/.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import time
import uuid

import grpc
import pytest

from lab.workloads.productcatalog import build, stubs

pytestmark = pytest.mark.lab

CACHE = os.path.join(os.path.expanduser('~'), '.cache', 'meshbridge-lab')
ROOTFS_CACHE = os.path.join(CACHE, 'vm-workload-bookworm-rootfs.tar')
DEBIAN_MIRROR = 'http://deb.debian.org/debian'
VM_PACKAGES = 'systemd,systemd-sysv,dbus,openssh-server,python3'
BOOT_TIMEOUT = 60
STOP_TIMEOUT = 30

ROLE = 'meshbridge.istio_vm.vm_workload : '
PLAYBOOK = """
- name: Run the VM's workload
  hosts: vm
  gather_facts: false
  roles:
    - role: meshbridge.istio_vm.vm_workload
"""


def _wait(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError('%s not ready after %d s' % (what, timeout))
        time.sleep(0.2)


def _cached_rootfs():
    """The path of the Debian 12 root tarball, building it with debootstrap the first time."""
    if not os.path.exists(ROOTFS_CACHE):
        os.makedirs(CACHE, exist_ok=True)
        scratch = '/var/tmp/mbl-vmw-debootstrap-%s' % uuid.uuid4().hex[:8]
        try:
            subprocess.run(['debootstrap', '--variant=minbase', '--include=' + VM_PACKAGES, 'bookworm', scratch,
                            DEBIAN_MIRROR], check=True, capture_output=True)
            partial = ROOTFS_CACHE + '.partial-' + uuid.uuid4().hex[:8]
            subprocess.run(['tar', '-C', scratch, '--numeric-owner', '-cf', partial, '.'], check=True)
            os.replace(partial, ROOTFS_CACHE)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return ROOTFS_CACHE


def _port_open(address, port):
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


class NspawnVM:
    """A booted Debian 12 machine in network namespace ``netns``, at ``address`` from the host, with root's SSH key."""

    def __init__(self, workdir):
        tag = uuid.uuid4().hex[:6]
        self.name = 'mbl-vmw-' + tag
        self.netns = self.name
        self.host_if, self.vm_if = 'vmw%sh' % tag, 'vmw%sv' % tag
        # A random /30 inside 10.213.0.0/16, outside the lab's address plan, so parallel runs do not collide.
        base = int(tag[:4], 16) & 0xfffc
        self.host_address = '10.213.%d.%d' % (base >> 8, (base & 0xff) + 1)
        self.address = '10.213.%d.%d' % (base >> 8, (base & 0xff) + 2)
        self.root = os.path.join(workdir, 'rootfs')
        self.key = os.path.join(workdir, 'id_ed25519')
        self.process = None

    def start(self):
        os.makedirs(self.root)
        with tarfile.open(_cached_rootfs()) as rootfs:
            rootfs.extractall(self.root, numeric_owner=True, filter='fully_trusted')
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', self.key], check=True)
        ssh_dir = os.path.join(self.root, 'root', '.ssh')
        os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
        shutil.copyfile(self.key + '.pub', os.path.join(ssh_dir, 'authorized_keys'))
        self._ip('netns', 'add', self.netns)
        self._ip('link', 'add', self.host_if, 'type', 'veth', 'peer', 'name', self.vm_if, 'netns', self.netns)
        self._ip('addr', 'add', self.host_address + '/30', 'dev', self.host_if)
        self._ip('link', 'set', self.host_if, 'up')
        self._ip('-n', self.netns, 'addr', 'add', self.address + '/30', 'dev', self.vm_if)
        self._ip('-n', self.netns, 'link', 'set', self.vm_if, 'up')
        self._ip('-n', self.netns, 'link', 'set', 'lo', 'up')
        # nspawn wants a terminal; `script` gives it one. No host systemd here, hence --register=no --keep-unit.
        nspawn = ('systemd-nspawn --register=no --keep-unit --quiet -D %s -M %s -b --network-namespace-path=/run/netns/%s'
                  % (self.root, self.name, self.netns))
        self.process = subprocess.Popen(['script', '-qfec', nspawn, '/dev/null'], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        _wait(lambda: _port_open(self.address, 22), BOOT_TIMEOUT, 'sshd on VM %s (%s)' % (self.name, self.address))

    def ssh(self, *command):
        return subprocess.run(['ssh', '-i', self.key, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
                               '-o', 'LogLevel=ERROR', '-o', 'BatchMode=yes', 'root@' + self.address] + list(command),
                              capture_output=True, text=True, check=True).stdout

    def inventory(self, path):
        with open(path, 'w', encoding='utf-8') as handle:
            handle.write('[vm]\n%s ansible_host=%s ansible_user=root ansible_ssh_private_key_file=%s '
                         'ansible_python_interpreter=/usr/bin/python3 '
                         "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n"
                         % (self.name, self.address, self.key))
        return path

    def stop(self):
        if self.process is not None:
            # SIGTERM to the session makes nspawn power the machine off cleanly.
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT)
        subprocess.run(['ip', 'link', 'del', self.host_if], capture_output=True, check=False)
        subprocess.run(['ip', 'netns', 'del', self.netns], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def _ip(*args):
        subprocess.run(['ip'] + list(args), check=True, capture_output=True)


@pytest.fixture(scope='module')
def vm():
    workdir = '/var/tmp/mbl-vmw-%s' % uuid.uuid4().hex[:8]
    os.makedirs(workdir)
    machine = NspawnVM(workdir)
    try:
        machine.start()
        yield machine
    finally:
        machine.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope='module')
def artifact(tmp_path_factory):
    return build.build(str(tmp_path_factory.mktemp('artifact')))


@pytest.fixture(scope='module')
def proto(tmp_path_factory):
    return stubs.load(str(tmp_path_factory.mktemp('stubs')))


def _products(proto, address):
    with grpc.insecure_channel('%s:3550' % address) as channel:
        stub = proto['productcatalog_pb2_grpc'].ProductCatalogServiceStub(channel)
        return [product.id for product in stub.ListProducts(proto['productcatalog_pb2'].Empty(), timeout=5).products]


def _invocation(vm):
    return vm.ssh('systemctl', 'show', '--value', '-p', 'InvocationID', 'productcatalogservice.service').strip()


def test_systemd_mode_installs_is_idempotent_and_restarts_on_change(vm, artifact, proto, run_playbook, tmp_path):
    inventory = vm.inventory(str(tmp_path / 'hosts.ini'))
    service = {'name': 'productcatalogservice', 'port': 3550, 'protocol': 'grpc', 'artifact': artifact,
               'environment': {'DISABLE_PROFILER': '1'}}
    extra = {'vm_workload_mode': 'systemd', 'vm_workload_services': [service]}

    # On a VM that has never seen the service, check mode predicts the install and leaves no trace.
    predicted = run_playbook(PLAYBOOK, extra_vars=extra, inventory=inventory, check=True)
    assert predicted.changed(vm.name) > 0
    assert 'productcatalogservice' not in vm.ssh('ls', '/etc/systemd/system', '/opt')

    installed = run_playbook(PLAYBOOK, extra_vars=extra, inventory=inventory)
    assert installed.changed(vm.name) > 0
    assert len(_products(proto, vm.address)) == 9
    assert vm.ssh('systemctl', 'is-enabled', 'productcatalogservice.service').strip() == 'enabled'
    assert vm.ssh('stat', '-c', '%a', '/etc/vm_workload/productcatalogservice.env').strip() == '600'
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
    assert len(_products(proto, vm.address)) == 9

    upgraded = run_playbook(PLAYBOOK, extra_vars=extra, inventory=inventory)
    assert upgraded.changed(vm.name) > 0
    assert _invocation(vm) != started
    assert len(_products(proto, vm.address)) == 8

    # A changed environment restarts the service too, and reaches it: bound to loopback, it still passes the
    # role's health check on the VM but no longer answers on the VM's address.
    upgraded_invocation = _invocation(vm)
    service['environment'] = {'DISABLE_PROFILER': '1', 'LISTEN_ADDRESS': '127.0.0.1'}
    reconfigured = run_playbook(PLAYBOOK, extra_vars=extra, inventory=inventory)
    assert reconfigured.task(ROLE + "Write each service's environment file", vm.name)['changed']
    assert _invocation(vm) != upgraded_invocation
    assert not _port_open(vm.address, 3550)
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
    assert vm.ssh('ls', '/etc/systemd/system').count('legacyapp') == 0


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
