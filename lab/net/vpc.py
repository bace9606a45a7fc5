"""The VPC network: a bridge in its own namespace, the controller's link to it, and each GKE cluster's namespace.

Layout (docs/dev/lab.md): bridge ``<prefix>br0`` in netns ``<prefix>vpc`` carries the us-west2 subnet with the
gateway address; the controller's veth end holds 10.168.15.254/20; cluster N's netns ``<prefix>gke-<cluster>``
has its node IP on ``eth0`` and its pod range on a dummy device ``pods``; LoadBalancer addresses are added to
``eth0`` as the Kubernetes stand-in allocates them. (The pod "dummy" is a bridge without ports: this machine's
kernel has no dummy driver, and a port-less bridge likewise holds addresses and forwards nothing.) VMs (lab.vms)
hang off the same bridge. Only the VMs have a default route, into the VPC namespace; nothing forwards out or NATs:
the VPC namespace has no link to the outside at all.
"""

import ipaddress
import json

from lab.net import addresses, netns
from lab.net.commands import LabCommandError, run
from lab.net.names import bridge_port

_NODE_LINK = 'eth0'
_POD_LINK = 'pods'
_CONTROLLER_PORT = 'ctl'


def _addresses(namespace, link):
    """The IPv4 interfaces (address/prefix) on ``link`` in ``namespace`` (None: the host namespace)."""
    argv = ['ip', '-j', 'addr', 'show', 'dev', link] if namespace is None else \
        ['ip', '-n', namespace, '-j', 'addr', 'show', 'dev', link]
    interfaces = []
    for entry in json.loads(run(argv) or '[]'):
        for info in entry.get('addr_info', []):
            if info.get('family') == 'inet':
                interfaces.append(ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}"))
    return interfaces


def host_links_holding(address):
    """Links in the host namespace that hold ``address``."""
    holders = []
    for entry in json.loads(run(['ip', '-j', 'addr', 'show']) or '[]'):
        if any(info.get('local') == str(address) for info in entry.get('addr_info', [])):
            holders.append(entry['ifname'])
    return holders


class Vpc:
    """The VPC ``default`` of one lab (one prefix).

    ``isolated_controller=False`` (``lab up``) puts the controller's link in the host namespace, so Ansible and
    OpenSSH on the host reach the VMs directly; only one lab per host can do that. Tests pass True: the link then
    lives in netns ``<prefix>controller`` and test clients run there, so parallel runs do not collide.
    """

    def __init__(self, names, *, isolated_controller=False):
        self.names = names
        self.netns = names.vpc_netns
        self.controller_netns = names.controller_netns if isolated_controller else None

    @property
    def exists(self):
        return netns.exists(self.netns)

    def create(self):
        """Create the bridge namespace, the bridge with the gateway address, and the controller's link."""
        if self.controller_netns is None:
            holders = host_links_holding(addresses.CONTROLLER)
            if holders:
                raise RuntimeError(f'the controller address {addresses.CONTROLLER} is already on host link(s) '
                                   f'{", ".join(holders)}: another lab is up; take it down (lab cleanup for its prefix) '
                                   f'or use an isolated controller')
        netns.create(self.netns)
        try:
            netns.ip(self.netns, 'link', 'add', self.names.bridge, 'type', 'bridge')
            netns.ip(self.netns, 'addr', 'add', f'{addresses.GATEWAY}/{addresses.SUBNET.prefixlen}', 'dev', self.names.bridge)
            # The metadata server's address, where VMs send DNS queries: nothing answers there in the lab (no
            # metadata server), so a query is refused at once (ICMP port unreachable) rather than lost. Istio's DNS
            # capture on a VM redirects queries sent to it, which needs it routable, as it is on GCE.
            netns.ip(self.netns, 'addr', 'add', f'{addresses.METADATA_SERVER}/32', 'dev', self.names.bridge)
            netns.ip(self.netns, 'link', 'set', self.names.bridge, 'up')
            self._create_controller_link()
        except Exception:
            self.destroy()
            raise

    def _create_controller_link(self):
        link = self.names.controller_link
        interface = f'{addresses.CONTROLLER}/{addresses.SUBNET.prefixlen}'
        if self.controller_netns is None:
            run(['ip', 'link', 'add', link, 'type', 'veth', 'peer', 'name', _CONTROLLER_PORT, 'netns', self.netns])
            run(['ip', 'addr', 'add', interface, 'dev', link])
            run(['ip', 'link', 'set', link, 'up'])
        else:
            netns.create(self.controller_netns)
            netns.ip(self.controller_netns, 'link', 'add', link, 'type', 'veth', 'peer', 'name', _CONTROLLER_PORT,
                     'netns', self.netns)
            netns.ip(self.controller_netns, 'addr', 'add', interface, 'dev', link)
            netns.ip(self.controller_netns, 'link', 'set', link, 'up')
        netns.ip(self.netns, 'link', 'set', _CONTROLLER_PORT, 'master', self.names.bridge, 'up')

    def destroy(self):
        """Remove the VPC namespace, the controller's link and every cluster namespace of this lab."""
        for cluster_netns in self._cluster_namespaces():
            netns.delete(cluster_netns)
        if self.controller_netns is None:
            if self.names.controller_link in _host_links():
                run(['ip', 'link', 'delete', self.names.controller_link])
        else:
            netns.delete(self.controller_netns)
        netns.delete(self.netns)

    def attach(self, kind, name, namespace, address):
        """Link ``namespace`` to the bridge: a veth whose inner end ``eth0`` holds ``address`` in the subnet."""
        port = bridge_port(kind, name)
        netns.ip(self.netns, 'link', 'add', port, 'type', 'veth', 'peer', 'name', _NODE_LINK, 'netns', namespace)
        netns.ip(self.netns, 'link', 'set', port, 'master', self.names.bridge, 'up')
        netns.ip(namespace, 'addr', 'add', f'{address}/{addresses.SUBNET.prefixlen}', 'dev', _NODE_LINK)
        netns.ip(namespace, 'link', 'set', _NODE_LINK, 'up')

    def detach(self, kind, name):
        """Delete the bridge port of a cluster or VM (and so its veth pair). The kernel frees a deleted namespace,
        and the veth in it, asynchronously: one made again right away (teardown, then site.yml) would find the port
        still there. Deleting it before the namespace is synchronous. Idempotent."""
        port = bridge_port(kind, name)
        if port in _links(self.netns):
            try:
                netns.ip(self.netns, 'link', 'delete', port)
            except LabCommandError:
                if port in _links(self.netns):     # not the kernel having freed it meanwhile
                    raise

    # Clusters

    def _cluster_namespaces(self):
        head = self.names.cluster_netns('')
        return [name for name in netns.names() if name.startswith(head)]

    def add_cluster(self, cluster, index, pod_range=addresses.FIRST_POD_RANGE):
        """Create cluster ``cluster``'s namespace as the ``index``-th cluster (1-based) with its pod range."""
        pod_range = ipaddress.ip_network(pod_range)
        node = addresses.node_ip(index)
        for existing in self.clusters():
            if existing.node_ip == node or existing.pod_range.overlaps(pod_range):
                raise ValueError(f'cluster {cluster}: index {index} or pod range {pod_range} is taken by cluster '
                                 f'{existing.name} (node {existing.node_ip}, pods {existing.pod_range})')
        namespace = self.names.cluster_netns(cluster)
        netns.create(namespace)
        try:
            self.attach('gke', cluster, namespace, node)
            netns.ip(namespace, 'link', 'add', _POD_LINK, 'type', 'bridge')
            first_pod = ipaddress.ip_interface(f'{pod_range.network_address + 1}/{pod_range.prefixlen}')
            netns.ip(namespace, 'addr', 'add', str(first_pod), 'dev', _POD_LINK)
            netns.ip(namespace, 'link', 'set', _POD_LINK, 'up')
            for vm_netns in self.vm_namespaces():
                netns.ip(vm_netns, 'route', 'replace', str(pod_range), 'via', str(node))
        except Exception:
            netns.delete(namespace)
            raise
        return ClusterNetwork(cluster, namespace)

    def cluster(self, cluster):
        """The network of an existing cluster."""
        namespace = self.names.cluster_netns(cluster)
        if not netns.exists(namespace):
            raise LookupError(f'cluster {cluster} has no network namespace {namespace}')
        return ClusterNetwork(cluster, namespace)

    def clusters(self):
        head = self.names.cluster_netns('')
        return [ClusterNetwork(namespace[len(head):], namespace) for namespace in self._cluster_namespaces()]

    def remove_cluster(self, cluster):
        network = self.cluster(cluster)
        pod_range = network.pod_range
        for vm_netns in self.vm_namespaces():
            if _has_route(vm_netns, pod_range):
                netns.ip(vm_netns, 'route', 'delete', str(pod_range))
        self.detach('gke', cluster)
        netns.delete(network.netns)

    def pod_routes(self):
        """(pod range, node IP) of every cluster: what GCP's alias IP ranges route for every VM."""
        return [(network.pod_range, network.node_ip) for network in self.clusters()]

    # VMs (lab.vms makes their namespaces; the VPC knows them by name for routes and address checks)

    def vm_namespaces(self):
        head = self.names.vm_netns('')
        return [name for name in netns.names() if name.startswith(head)]

    def addresses_in_use(self):
        """Subnet addresses held by the gateway, the controller, cluster nodes and LBs, and VMs."""
        used = {addresses.GATEWAY, addresses.CONTROLLER}
        for namespace in self._cluster_namespaces() + self.vm_namespaces():
            used.update(interface.ip for interface in _addresses(namespace, _NODE_LINK))
        return used

    def next_free_lb_address(self):
        """The lowest LoadBalancer address no cluster holds."""
        used = self.addresses_in_use()
        for address in addresses.LOAD_BALANCERS.hosts():
            if address not in used:
                return address
        raise RuntimeError(f'no free LoadBalancer address left in {addresses.LOAD_BALANCERS}')


def _host_links():
    return [entry['ifname'] for entry in json.loads(run(['ip', '-j', 'link', 'show']) or '[]')]


def _links(namespace):
    """Names of the links in ``namespace`` (``ip -o link`` names them ``name@peer:``)."""
    return [line.split(':')[1].strip().split('@')[0] for line in netns.ip(namespace, '-o', 'link', 'show').splitlines()
            if line.count(':') >= 2]


def _has_route(namespace, network):
    return bool(json.loads(netns.ip(namespace, '-j', 'route', 'show', 'exact', str(network)) or '[]'))


class ClusterNetwork:
    """The network namespace of one GKE cluster: node IP, pod range, LoadBalancer addresses."""

    def __init__(self, name, namespace):
        self.name = name
        self.netns = namespace

    def _node_interfaces(self):
        return _addresses(self.netns, _NODE_LINK)

    @property
    def node_ip(self):
        return next(interface.ip for interface in self._node_interfaces() if interface.network == addresses.SUBNET)

    @property
    def pod_range(self):
        return _addresses(self.netns, _POD_LINK)[0].network

    @property
    def pod_address(self):
        """The first pod address, present from the start: a source address "in the pod range" for tests and tools."""
        return _addresses(self.netns, _POD_LINK)[0].ip

    def pod_addresses(self):
        return [interface.ip for interface in _addresses(self.netns, _POD_LINK)]

    def add_pod_address(self, address):
        address = ipaddress.ip_address(address)
        if address not in self.pod_range:
            raise ValueError(f'pod address {address} is outside cluster {self.name}\'s pod range {self.pod_range}')
        if address not in self.pod_addresses():
            netns.ip(self.netns, 'addr', 'add', f'{address}/32', 'dev', _POD_LINK)

    def remove_pod_address(self, address):
        address = ipaddress.ip_address(address)
        if address != self.pod_address and address in self.pod_addresses():
            netns.ip(self.netns, 'addr', 'delete', f'{address}/32', 'dev', _POD_LINK)

    def add_service_address(self, address):
        """Hold a Service's ClusterIP in the namespace (where kube-proxy's rules would catch it); idempotent."""
        if ipaddress.ip_address(address) not in [i.ip for i in _addresses(self.netns, _POD_LINK)]:
            netns.ip(self.netns, 'addr', 'add', f'{address}/32', 'dev', _POD_LINK)

    def lb_addresses(self):
        return [interface.ip for interface in self._node_interfaces() if interface.ip in addresses.LOAD_BALANCERS]

    def add_lb_address(self, address):
        """Hold LoadBalancer address ``address`` on the node link (the bridge answers ARP for it); idempotent."""
        address = ipaddress.ip_address(address)
        if address not in addresses.LOAD_BALANCERS:
            raise ValueError(f'LoadBalancer address {address} is outside the lab\'s LB range {addresses.LOAD_BALANCERS}')
        if address not in self.lb_addresses():
            netns.ip(self.netns, 'addr', 'add', f'{address}/32', 'dev', _NODE_LINK)

    def remove_lb_address(self, address):
        address = ipaddress.ip_address(address)
        if address in self.lb_addresses():
            netns.ip(self.netns, 'addr', 'delete', f'{address}/32', 'dev', _NODE_LINK)
