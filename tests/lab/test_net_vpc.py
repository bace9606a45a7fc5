"""The lab VPC follows the address plan, routes nothing outside, and leaves nothing behind."""

import ipaddress
import json
import socket
import subprocess

import pytest

from lab.net import addresses, netns
from lab.net.vpc import Vpc, host_links_holding
from vm_lab import blocked, leftovers, unique_names

from tests.support.host_lab import host_lab_turn

pytestmark = pytest.mark.lab


def _routes(namespace):
    return json.loads(netns.ip(namespace, '-j', 'route', 'show', 'table', 'all'))


def test_addresses_follow_the_plan(vpc):
    cluster = vpc.cluster('west')
    assert (cluster.node_ip, cluster.pod_range) == (ipaddress.ip_address('10.168.0.10'), ipaddress.ip_network('10.4.0.0/14'))
    assert cluster.pod_address in cluster.pod_range
    bridge = json.loads(netns.ip(vpc.netns, '-j', 'addr', 'show', 'dev', vpc.names.bridge))[0]
    # The gateway, and the metadata server's address, where the VMs' DNS queries are refused.
    assert [(a['local'], a['prefixlen']) for a in bridge['addr_info'] if a['family'] == 'inet'] == [
        ('10.168.0.1', 20), ('169.254.169.254', 32)]
    controller = json.loads(netns.ip(vpc.controller_netns, '-j', 'addr', 'show', 'dev', vpc.names.controller_link))[0]
    assert ('10.168.15.254', 20) in [(a['local'], a['prefixlen']) for a in controller['addr_info']]


def test_no_namespace_has_a_default_route_or_forwards(vpc):
    for namespace in (vpc.netns, vpc.controller_netns, vpc.cluster('west').netns):
        assert not [route for route in _routes(namespace) if route['dst'] == 'default'], namespace
        forwarding = subprocess.run(netns.command(namespace, ['sysctl', '-n', 'net.ipv4.ip_forward']),
                                    capture_output=True, text=True, check=True).stdout.strip()
        assert forwarding == '0', namespace


def test_lb_address_is_reachable_from_the_controller(vpc):
    cluster = vpc.cluster('west')
    address = vpc.next_free_lb_address()
    assert address in addresses.LOAD_BALANCERS
    cluster.add_lb_address(address)
    cluster.add_lb_address(address)  # idempotent
    assert cluster.lb_addresses() == [address]
    assert vpc.next_free_lb_address() != address
    # The istiod stand-in's way in: a socket opened in the cluster namespace by the host process.
    with netns.listen_tcp(cluster.netns, address) as listener:
        port = listener.getsockname()[1]
        with netns.connect_tcp(vpc.controller_netns, address, port, timeout=3):
            peer, source = listener.accept()
            peer.close()
    assert source[0] == str(addresses.CONTROLLER)
    cluster.remove_lb_address(address)
    assert not cluster.lb_addresses()


def test_lb_address_outside_the_range_is_refused(vpc):
    with pytest.raises(ValueError, match='outside the lab.s LB range 10.168.8.0/24'):
        vpc.cluster('west').add_lb_address('10.168.9.1')


def test_pod_addresses_are_local_to_the_cluster_but_not_routed_from_the_controller(vpc):
    cluster = vpc.cluster('west')
    cluster.add_pod_address('10.4.1.7')
    assert ipaddress.ip_address('10.4.1.7') in cluster.pod_addresses()
    with pytest.raises(ValueError, match='outside cluster west.s pod range'):
        cluster.add_pod_address('10.8.0.1')
    # A pod can reach the VPC only where a route back exists: the controller has none to the pod range.
    with netns.listen_tcp(vpc.controller_netns, addresses.CONTROLLER) as listener:
        assert blocked(cluster.netns, addresses.CONTROLLER, listener.getsockname()[1], source='10.4.1.7')


def test_run_in_executes_inside_the_namespace(vpc):
    cluster = vpc.cluster('west')
    links = netns.run_in(cluster.netns, lambda: sorted(entry[1] for entry in socket.if_nameindex()))
    assert links == ['eth0', 'lo', 'pods']
    with pytest.raises(ZeroDivisionError):
        netns.run_in(cluster.netns, lambda: 1 / 0)


def test_second_cluster_takes_the_next_node_ip_and_a_disjoint_pod_range(vpc):
    with pytest.raises(ValueError, match='taken by cluster west'):
        vpc.add_cluster('east', 2, '10.4.0.0/16')
    east = vpc.add_cluster('east', 2, '10.12.0.0/14')
    try:
        assert east.node_ip == ipaddress.ip_address('10.168.0.11')
        with netns.listen_tcp(east.netns, east.node_ip) as listener:
            with netns.connect_tcp(vpc.cluster('west').netns, east.node_ip, listener.getsockname()[1], timeout=3):
                pass
    finally:
        vpc.remove_cluster('east')
    assert not netns.exists(vpc.names.cluster_netns('east'))


def test_host_controller_link_and_refusal_of_a_second_host_lab():
    with host_lab_turn():
        first = Vpc(unique_names())
        first.create()
        try:
            assert host_links_holding(addresses.CONTROLLER) == [first.names.controller_link]
            second = Vpc(unique_names())
            with pytest.raises(RuntimeError, match=f'already on host link.*{first.names.controller_link}'):
                second.create()
            assert not netns.exists(second.netns)
        finally:
            first.destroy()
    assert not leftovers(first.names)
