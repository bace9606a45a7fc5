"""The VM side of the Compute Engine stand-in: an instance resource becomes a booted lab VM on the VPC.

The GCP stand-in validates requests and owns the resources and addresses; it calls ``create_instance``
(returns the ``networkIP``), ``delete_instance``, ``update_metadata`` and ``apply_firewalls`` with a network's
firewall resources and instances whenever either changes (the VmBackend interface of ``lab.gcp.backends``).
A VM gets the firewall in force before it boots, so no port is ever open that the rules do not open.
"""

import ipaddress
import re
import threading

from lab.net import addresses, netns
from lab.vms import firewall, guest
from lab.vms.base_root import BaseRoot
from lab.vms.machine import Vm

_PROJECT = re.compile(r'projects/([^/]+)')


def _first_interface(instance):
    return (instance.get('networkInterfaces') or [{}])[0]


def _metadata_keys(instance):
    """The users and keys the guest agent takes from metadata; ``_projectMetadata`` (the project's common
    metadata, from the GCP stand-in) says whether OS Login turns them off."""
    return guest.ssh_keys_by_user(instance.get('metadata'), project_metadata=instance.get('_projectMetadata'))


def _fqdn(instance):
    """``<name>.<zone>.c.<project>.internal``, GCE's internal DNS name, when zone and project are known."""
    zone = (instance.get('zone') or '').rstrip('/').rsplit('/', 1)[-1]
    project = _PROJECT.search(instance.get('selfLink') or instance.get('zone') or '')
    if zone and project:
        return f"{instance['name']}.{zone}.c.{project.group(1)}.internal"
    return None


class Fleet:
    """All VMs of one lab, on ``vpc``, with their state under ``state_dir``."""

    def __init__(self, vpc, state_dir, base_root=None, boot_timeout=90):
        self.vpc = vpc
        self.state_dir = state_dir
        self.base_root = base_root or BaseRoot()
        self.boot_timeout = boot_timeout
        self._vms = {}
        self._instances = {}
        self._rules = {}
        self._lock = threading.RLock()

    def vm(self, name):
        with self._lock:
            if name not in self._vms:
                raise LookupError(f'no lab VM for instance {name}')
            return self._vms[name]

    def names(self):
        with self._lock:
            return sorted(self._vms)

    def _allocate_address(self, requested):
        used = self.vpc.addresses_in_use()
        if requested:
            address = ipaddress.ip_address(requested)
            if address not in addresses.SUBNET or addresses.gce_reserved(address) or address in addresses.LOAD_BALANCERS:
                raise ValueError(f'networkIP {address} is not a usable instance address in subnet {addresses.SUBNET}')
            if address in used:
                raise ValueError(f'networkIP {address} is already in use in subnet {addresses.SUBNET}')
            return address
        for candidate in addresses.SUBNET.hosts():
            if candidate >= addresses.FIRST_VM and candidate not in used and candidate not in addresses.LOAD_BALANCERS \
                    and not addresses.gce_reserved(candidate):
                return candidate
        raise RuntimeError(f'no free instance address left in subnet {addresses.SUBNET}')

    def create_instance(self, instance):
        """Boot a VM for Compute Engine ``instance`` (a resource dict) and return its ``networkIP``."""
        name = instance['name']
        with self._lock:
            if name in self._vms:
                raise ValueError(f'instance {name} already has a lab VM')
            address = self._allocate_address(_first_interface(instance).get('networkIP'))
            vm = Vm(name, address, self.vpc.names, self.state_dir)
            self._vms[name] = vm
            self._instances[name] = _with_address(instance, address)
            try:
                vm.mount_root(self.base_root.ensure_unpacked())
                guest.set_identity(vm.root, name, address, _fqdn(instance))
                guest.configure_sshd(vm.root)
                guest.sync_users(vm.root, _metadata_keys(instance))
                netns.create(vm.netns)
                self.vpc.attach('vm', name, vm.netns, address)
                for pod_range, node_ip in self.vpc.pod_routes():
                    netns.ip(vm.netns, 'route', 'replace', str(pod_range), 'via', str(node_ip))
                # A GCE VM's default route: the subnet's gateway, here the VPC namespace, which has no way out and
                # drops what it cannot deliver. The sidecar's capture needs it: a call to a ClusterIP or the metadata
                # server (DNS) must be routable before iptables hands it to Envoy or the agent.
                netns.ip(vm.netns, 'route', 'replace', 'default', 'via', str(addresses.GATEWAY))
                self._apply_firewall(name)
                vm.boot()
                vm.wait_ready(self.boot_timeout)
            except BaseException:
                self._vms.pop(name)
                self._instances.pop(name)
                vm.remove()
                self.vpc.detach('vm', name)
                raise
        return str(address)

    def delete_instance(self, name):
        """Power the VM off and remove everything it had: root, mounts, namespace, veth."""
        with self._lock:
            self.vm(name).remove()
            self.vpc.detach('vm', name)
            del self._vms[name]
            del self._instances[name]

    def stop_instance(self, name):
        """Power the VM off; its root and address stay (a TERMINATED instance)."""
        with self._lock:
            self.vm(name).shutdown()

    def start_instance(self, name):
        with self._lock:
            vm = self.vm(name)
            vm.boot()
            vm.wait_ready(self.boot_timeout)

    def update_metadata(self, instance):
        """The instance's metadata changed: the guest agent's work again (users, sudo, authorized_keys), live."""
        with self._lock:
            vm = self.vm(instance['name'])
            self._instances[instance['name']] = _with_address(instance, vm.address)
            guest.sync_users(vm.root, _metadata_keys(instance))

    def host_public_keys(self, name):
        return guest.host_public_keys(self.vm(name).root)

    def apply_firewalls(self, network, rules, instances=()):
        """Make ``rules`` (all firewalls of ``network``) the nftables of every VM; ``instances`` refreshes tags."""
        with self._lock:
            self._rules[network] = list(rules)
            for instance in instances:
                if instance.get('name') in self._instances:
                    address = self._vms[instance['name']].address
                    self._instances[instance['name']] = _with_address(instance, address)
            for name in self._vms:
                self._apply_firewall(name)

    def _apply_firewall(self, name):
        # The renderer keeps the rules of the VM's network, by each rule's ``network``.
        rules = [dict(rule, network=rule.get('network') or network)
                 for network, network_rules in self._rules.items() for rule in network_rules]
        ruleset = firewall.render(rules, self._instances[name], list(self._instances.values()))
        firewall.apply(self._vms[name].netns, ruleset)


def _with_address(instance, address):
    """``instance`` with its primary interface's ``networkIP`` set (the stand-in may not have filled it in yet)."""
    interfaces = [dict(interface) for interface in instance.get('networkInterfaces') or [{}]]
    interfaces[0]['networkIP'] = str(address)
    return dict(instance, networkInterfaces=interfaces)
