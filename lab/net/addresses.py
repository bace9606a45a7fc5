"""The address plan of docs/dev/lab.md, as values."""

import ipaddress

SUBNET = ipaddress.ip_network('10.168.0.0/20')
GATEWAY = ipaddress.ip_address('10.168.0.1')
# GCE's metadata server, the VMs' DNS resolver, held by the VPC namespace (lab.net.vpc).
METADATA_SERVER = ipaddress.ip_address('169.254.169.254')
CONTROLLER = ipaddress.ip_address('10.168.15.254')
FIRST_VM = ipaddress.ip_address('10.168.0.20')
LOAD_BALANCERS = ipaddress.ip_network('10.168.8.0/24')
FIRST_POD_RANGE = ipaddress.ip_network('10.4.0.0/14')
FIRST_SERVICE_RANGE = ipaddress.ip_network('10.8.0.0/20')
# Cluster N's node sits at 10.168.0.(9+N), below the first VM.
MAX_CLUSTERS = int(FIRST_VM) - int(GATEWAY) - 9


def node_ip(cluster_index):
    """The node IP of cluster ``cluster_index`` (1-based)."""
    if not 1 <= cluster_index <= MAX_CLUSTERS:
        raise ValueError(f'cluster index {cluster_index} is outside 1..{MAX_CLUSTERS}: the address plan has room for '
                         f'{MAX_CLUSTERS} cluster nodes between the gateway and the first VM')
    return ipaddress.ip_address(int(SUBNET.network_address) + 9 + cluster_index)


def gce_reserved(address):
    """Whether GCE keeps ``address`` of the subnet for itself (network, gateway, second-to-last, broadcast).

    The controller uses the second-to-last address: the lab's one deliberate exception (see docs/dev/lab.md).
    """
    return address in (SUBNET.network_address, GATEWAY, SUBNET.broadcast_address - 1, SUBNET.broadcast_address)
