"""A lab VM boots systemd, lets in exactly the SSH users of its metadata, and enforces its firewall rules.

One VM is booted for the whole module (a few seconds on the cached base root); deletion and crash cleanup use
VMs of their own.
"""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from lab.net import addresses, netns
from lab.net.commands import run
from lab.net.vpc import Vpc
from lab.vms.base_root import BaseRoot
from lab.vms.cleanup import cleanup
from lab.vms.fleet import Fleet
from vm_lab import blocked, leftovers, unique_names

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GCE_DEFAULT_RULES = [
    {'name': 'default-allow-ssh', 'priority': 65534, 'sourceRanges': ['0.0.0.0/0'], 'allowed': [{'IPProtocol': 'tcp', 'ports': ['22']}]},
    {'name': 'default-allow-internal', 'priority': 65534, 'sourceRanges': ['10.128.0.0/9'],
     'allowed': [{'IPProtocol': 'tcp', 'ports': ['0-65535']}, {'IPProtocol': 'udp', 'ports': ['0-65535']}, {'IPProtocol': 'icmp'}]},
    {'name': 'default-allow-icmp', 'priority': 65534, 'sourceRanges': ['0.0.0.0/0'], 'allowed': [{'IPProtocol': 'icmp'}]},
]
# What the collection adds: the pods of a slice of the pod range may reach the VM's service port.
MESH_RULE = {'name': 'mesh-pods-to-vm', 'sourceRanges': ['10.4.0.0/24'], 'targetTags': ['istio-vm'],
             'allowed': [{'IPProtocol': 'tcp', 'ports': ['8080']}]}
SERVICE_PORT, OTHER_PORT = 8080, 9090


def _key(directory, user):
    path = os.path.join(directory, user)
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', f'{user}@controller', '-f', path], check=True)
    with open(path + '.pub', encoding='ascii') as handle:
        return path, handle.read().strip()


def _instance(name, ssh_keys, tags=('istio-vm',)):
    return {
        'name': name, 'zone': 'https://compute.googleapis.com/compute/v1/projects/lab-project/zones/us-west2-a',
        'tags': {'items': list(tags)},
        'networkInterfaces': [{'network': 'https://compute.googleapis.com/compute/v1/projects/lab-project/global/networks/default'}],
        'metadata': {'items': [{'key': 'ssh-keys', 'value': '\n'.join(ssh_keys)}]},
    }


class Lab:
    """The module's lab: VPC with an isolated controller, cluster ``west``, one VM ``istio-gce``."""

    def __init__(self, directory):
        self.directory = directory
        self.names = unique_names()
        self.vpc = Vpc(self.names, isolated_controller=True)
        self.vpc.create()
        self.cluster = self.vpc.add_cluster('west', 1)
        self.cluster.add_pod_address('10.5.0.9')  # in the pod range, outside the mesh rule's source range
        self.fleet = Fleet(self.vpc, os.path.join(directory, 'state'), BaseRoot())
        self.alice_key, alice_public = _key(directory, 'alice')
        self.bob_key, self.bob_public = _key(directory, 'bob')
        self.alice_line = f'alice:{alice_public}'
        self.fleet.apply_firewalls('default', GCE_DEFAULT_RULES + [MESH_RULE])
        started = time.monotonic()
        self.address = self.fleet.create_instance(_instance('istio-gce', [self.alice_line]))
        self.boot_seconds = time.monotonic() - started
        self.vm = self.fleet.vm('istio-gce')
        self.known_hosts = os.path.join(directory, 'known_hosts')
        with open(self.known_hosts, 'w', encoding='ascii') as handle:
            handle.writelines(f'{self.address} {key}\n' for key in self.fleet.host_public_keys('istio-gce'))

    def ssh(self, user, key, command):
        """Real OpenSSH from the controller's namespace, checking the VM's host key."""
        argv = ['ssh', '-F', '/dev/null', '-i', key, '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes',
                '-o', f'UserKnownHostsFile={self.known_hosts}', '-o', 'StrictHostKeyChecking=yes',
                '-o', 'ConnectTimeout=5', f'{user}@{self.address}', command]
        return subprocess.run(netns.command(self.vpc.controller_netns, argv), capture_output=True, text=True,
                              timeout=60, check=False)


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    world = Lab(str(tmp_path_factory.mktemp('vms')))
    yield world
    world.fleet.delete_instance('istio-gce')
    world.vpc.destroy()
    assert not leftovers(world.names)


def test_boots_to_ssh_ready_quickly(lab):
    print(f'VM boot to SSH-ready: {lab.boot_seconds:.1f} s')
    assert lab.address == str(addresses.FIRST_VM)
    assert lab.boot_seconds < 60


def test_metadata_user_logs_in_and_systemd_is_running(lab):
    result = lab.ssh('alice', lab.alice_key, 'systemctl is-system-running; hostname; hostname --fqdn; sudo -n id -u')
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ['running', 'istio-gce', 'istio-gce.us-west2-a.c.lab-project.internal', '0']


def test_names_resolve_as_on_gce_without_reaching_the_host_resolver(lab):
    result = lab.ssh('alice', lab.alice_key, 'getent hosts istio-gce metadata.google.internal; cat /etc/resolv.conf')
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines[:2] == [[lab.address, 'istio-gce.us-west2-a.c.lab-project.internal', 'istio-gce'],
                         ['169.254.169.254', 'metadata.google.internal']]
    assert 'search us-west2-a.c.lab-project.internal c.lab-project.internal google.internal\nnameserver 169.254.169.254' \
        in result.stdout


def test_key_not_in_metadata_is_refused_and_metadata_updates_apply_live(lab):
    refused = lab.ssh('bob', lab.bob_key, 'true')
    assert refused.returncode == 255 and 'Permission denied' in refused.stderr
    lab.fleet.update_metadata(_instance('istio-gce', [f'bob:{lab.bob_public}']))
    try:
        assert lab.ssh('bob', lab.bob_key, 'sudo -n true').returncode == 0
        alice = lab.ssh('alice', lab.alice_key, 'true')
        assert alice.returncode == 255 and 'Permission denied' in alice.stderr
    finally:
        lab.fleet.update_metadata(_instance('istio-gce', [lab.alice_line]))
    assert lab.ssh('alice', lab.alice_key, 'true').returncode == 0


def test_ansible_reaches_the_vm_over_ssh_with_become(lab):
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='json', ANSIBLE_HOST_KEY_CHECKING='True',
               ANSIBLE_LOCAL_TEMP=os.path.join(lab.directory, 'ansible-tmp'))
    argv = [os.path.join(os.path.dirname(sys.executable), 'ansible'), 'all', '-i', f'{lab.address},', '-u', 'alice',
            '--private-key', lab.alice_key, '--become', '-m', 'ansible.builtin.setup', '-a', 'gather_subset=!all,!min,distribution',
            '-e', f'ansible_ssh_common_args="-o UserKnownHostsFile={lab.known_hosts} -F /dev/null"']
    result = subprocess.run(netns.command(lab.vpc.controller_netns, argv), capture_output=True, text=True, timeout=180,
                            env=env, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    facts = json.loads(result.stdout)['plays'][0]['tasks'][0]['hosts'][lab.address]['ansible_facts']
    assert (facts['ansible_distribution'], facts['ansible_distribution_major_version']) == ('Debian', '12')


def test_vm_routes_to_the_pod_range_through_the_node_and_reaches_the_gateway_lb(lab):
    route = json.loads(netns.ip(lab.vm.netns, '-j', 'route', 'get', str(lab.cluster.pod_address)))[0]
    assert route['gateway'] == '10.168.0.10'
    # GCE's default route, via the subnet's gateway: the VPC namespace, which has no route of its own onwards and does
    # not forward, so nothing sent that way leaves the lab.
    [default] = json.loads(netns.ip(lab.vm.netns, '-j', 'route', 'show', 'default'))
    assert default['gateway'] == '10.168.0.1'
    assert not json.loads(netns.ip(lab.vpc.netns, '-j', 'route', 'show', 'default'))
    assert run(netns.command(lab.vpc.netns, ['sysctl', '-n', 'net.ipv4.ip_forward'])).strip() == '0'
    lb_address = lab.vpc.next_free_lb_address()
    lab.cluster.add_lb_address(lb_address)
    with netns.listen_tcp(lab.cluster.netns, lb_address) as gateway:
        with netns.connect_tcp(lab.vm.netns, lb_address, gateway.getsockname()[1], timeout=3):
            peer, source = gateway.accept()
            peer.close()
    assert source[0] == lab.address
    lab.cluster.remove_lb_address(lb_address)


@pytest.fixture
def vm_listeners(lab):
    sockets = [netns.listen_tcp(lab.vm.netns, lab.address, port) for port in (SERVICE_PORT, OTHER_PORT)]
    yield
    for sock in sockets:
        sock.close()


@pytest.mark.usefixtures('vm_listeners')
def test_firewall_opens_exactly_the_rule_port_to_the_rule_sources(lab):
    pod, outside = lab.cluster.pod_address, '10.5.0.9'
    with netns.connect_tcp(lab.cluster.netns, lab.address, SERVICE_PORT, source=pod, timeout=3):
        pass
    assert blocked(lab.cluster.netns, lab.address, OTHER_PORT, source=pod), 'a port no rule opens'
    assert blocked(lab.cluster.netns, lab.address, SERVICE_PORT, source=outside), 'a source outside the rule'
    # The node address is inside 10.128.0.0/9: default-allow-internal opens every port to it, as in GCE.
    with netns.connect_tcp(lab.cluster.netns, lab.address, OTHER_PORT, source=lab.cluster.node_ip, timeout=3):
        pass


@pytest.mark.usefixtures('vm_listeners')
def test_firewall_changes_replace_the_ruleset_and_follow_tags(lab):
    deny = {'name': 'deny-8080', 'priority': 900, 'sourceRanges': ['10.0.0.0/8'], 'denied': [{'IPProtocol': 'tcp', 'ports': ['8080']}]}
    try:
        lab.fleet.apply_firewalls('default', GCE_DEFAULT_RULES + [MESH_RULE, deny])
        assert blocked(lab.cluster.netns, lab.address, SERVICE_PORT, source=lab.cluster.pod_address)
        lab.fleet.apply_firewalls('default', GCE_DEFAULT_RULES + [MESH_RULE])
        untagged = _instance('istio-gce', [lab.alice_line], tags=())
        lab.fleet.apply_firewalls('default', GCE_DEFAULT_RULES + [MESH_RULE], [untagged])
        assert blocked(lab.cluster.netns, lab.address, SERVICE_PORT, source=lab.cluster.pod_address)
    finally:
        lab.fleet.apply_firewalls('default', GCE_DEFAULT_RULES + [MESH_RULE], [_instance('istio-gce', [lab.alice_line])])
    with netns.connect_tcp(lab.cluster.netns, lab.address, SERVICE_PORT, source=lab.cluster.pod_address, timeout=3):
        pass


def test_delete_leaves_no_namespace_veth_mount_or_process(lab):
    lab.fleet.create_instance(_instance('short-lived', []))
    vm = lab.fleet.vm('short-lived')
    nspawn_pid, init_pid = vm.pid, vm.init_pid()
    assert vm.address == addresses.FIRST_VM + 1 and nspawn_pid and init_pid
    lab.fleet.delete_instance('short-lived')
    assert not os.path.exists(f'/proc/{nspawn_pid}') and not os.path.exists(f'/proc/{init_pid}')
    assert not netns.exists(vm.netns)
    assert 'vm-short-lived' not in netns.ip(lab.vpc.netns, 'link', 'show')
    with open('/proc/self/mounts', encoding='utf-8') as handle:
        assert vm.directory not in handle.read()
    assert vm.machine.encode() not in subprocess.run(['ps', '-eo', 'args'], capture_output=True, check=True).stdout
    assert not os.path.exists(vm.directory)


def test_cleanup_after_a_crash_removes_everything(tmp_path):
    names = unique_names()
    state_dir = str(tmp_path / 'state')
    # A lab process that dies without cleaning up: its VM keeps running, orphaned.
    crash = textwrap.dedent(f'''
        import os
        from lab.net.names import LabNames
        from lab.net.vpc import Vpc
        from lab.vms.fleet import Fleet
        vpc = Vpc(LabNames({names.prefix!r}), isolated_controller=True)
        vpc.create()
        vpc.add_cluster('west', 1)
        Fleet(vpc, {state_dir!r}).create_instance({{'name': 'orphan'}})
        os._exit(3)
    ''')
    result = subprocess.run([sys.executable, '-c', crash], cwd=REPO, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 3, result.stderr
    assert set(leftovers(names)) >= {'namespaces', 'mounts', 'processes'}
    cleanup(names.prefix, state_dir)
    assert not leftovers(names)
    assert not os.path.exists(os.path.join(state_dir, 'vms'))
