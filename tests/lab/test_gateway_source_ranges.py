"""The east-west gateway's loadBalancerSourceRanges in the lab, as GKE applies them: only those sources reach the
gateway's address (istiod, port 15012); any other's packets are dropped unanswered. The lab's istioctl puts the
IstioOperator's ``k8s.serviceAnnotations`` and ``k8s.service`` on the gateway's Service, as istioctl does."""

import socket

import pytest

from lab.istio.istiod import testing as istiod_testing
from lab.istio.istiod.supervisor import ClusterIstiod
from lab.istio.manifests import render
from lab.istio.operator import Effective
from lab.kubernetes.load_balancers import LoadBalancerController
from lab.kubernetes.testing import running_control_plane
from lab.net import addresses, netns
from lab.net.commands import wait_for

pytestmark = pytest.mark.lab

GATEWAY = '/api/v1/namespaces/istio-system/services/istio-eastwestgateway'
INTERNAL = {'networking.gke.io/load-balancer-type': 'Internal'}


@pytest.fixture
def cluster(vpc, tmp_path):
    network = vpc.cluster('west')
    with running_control_plane(tmp_path / 'kube') as kube:
        load_balancers = LoadBalancerController(kube.kubeconfig, '10.168.8.64/27', network.add_lb_address,
                                                network.remove_lb_address).start()
        supervisor = ClusterIstiod(kube, network.netns).start()
        try:
            yield kube, network, supervisor
        finally:
            supervisor.stop()
            load_balancers.stop()
            for address in network.lb_addresses():
                network.remove_lb_address(address)


def _reaches(vpc, address, port=15012):
    """Whether a TCP connection from the controller's address gets through (a dropped SYN times out)."""
    try:
        netns.connect_tcp(vpc.controller_netns, address, port, timeout=1.5).close()
    except (socket.timeout, TimeoutError):
        return False
    return True


def test_only_the_source_ranges_reach_istiod_at_the_gateway(vpc, cluster, tmp_path):
    kube, network, supervisor = cluster
    api = istiod_testing.kube_api(kube)
    istiod_testing.install_for_istiod(kube, str(tmp_path / 'ca'))
    api.create('/api/v1/namespaces/istio-system/services', {
        'metadata': {'name': 'istio-eastwestgateway', 'annotations': INTERNAL},
        'spec': {'type': 'LoadBalancer', 'selector': {'istio': 'eastwestgateway'},
                 'loadBalancerSourceRanges': ['10.168.0.20/32'],
                 'ports': [{'name': 'tls-istiod', 'port': 15012, 'targetPort': 15012}]}})
    address = wait_for(lambda: ((api.get(GATEWAY)['status'].get('loadBalancer') or {}).get('ingress') or [{}])[0]
                       .get('ip'), timeout=15, what='the gateway address')
    # The source ranges are applied as soon as the gateway has its address, before istiod serves there.
    wait_for(lambda: supervisor.istiod is not None, timeout=15, what='istiod at the gateway')
    # The controller (10.168.15.254) is not a source the gateway admits: dropped, as GCP's firewall drops it.
    assert not _reaches(vpc, address)

    service = api.get(GATEWAY)
    service['spec']['loadBalancerSourceRanges'] = ['10.168.0.20/32', '%s/32' % addresses.CONTROLLER]
    api.replace(GATEWAY, service)
    wait_for(lambda: _reaches(vpc, address), timeout=15, what='the controller admitted')

    service = api.get(GATEWAY)
    service['spec']['loadBalancerSourceRanges'] = ['10.168.0.20/32']
    api.replace(GATEWAY, service)
    wait_for(lambda: not _reaches(vpc, address), timeout=15, what='the controller refused again')
    service = api.get(GATEWAY)
    del service['spec']['loadBalancerSourceRanges']
    api.replace(GATEWAY, service)
    wait_for(lambda: _reaches(vpc, address), timeout=15, what='no ranges: every source admitted')
    api.close()


def test_istioctl_puts_the_gateway_service_settings_on_the_service():
    operator = {'apiVersion': 'install.istio.io/v1alpha1', 'kind': 'IstioOperator',
                'spec': {'profile': 'empty', 'components': {'ingressGateways': [{
                    'name': 'istio-eastwestgateway', 'enabled': True, 'label': {'istio': 'eastwestgateway'},
                    'k8s': {'serviceAnnotations': INTERNAL,
                            'service': {'ports': [{'name': 'tls-istiod', 'port': 15012, 'targetPort': 15012}],
                                        'loadBalancerSourceRanges': ['10.168.0.20/32']}}}]}}}
    [service] = [obj for obj in render(Effective(operator, '1.24.2')) if obj['kind'] == 'Service']
    assert service['metadata']['annotations'] == INTERNAL
    assert service['spec']['type'] == 'LoadBalancer'
    assert service['spec']['loadBalancerSourceRanges'] == ['10.168.0.20/32']
    assert [port['port'] for port in service['spec']['ports']] == [15012]
