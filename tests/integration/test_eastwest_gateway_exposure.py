"""Who can reach istiod: the istio_control_plane role makes the east-west gateway, which exposes istiod (15012,
15017), an internal load balancer in the VPC by default (GKE's ``networking.gke.io/load-balancer-type: Internal``)
admitting only the source ranges given (the VMs' addresses, from site.yml), and an external one only when asked,
never without source ranges. Through real ansible-playbook, the lab's istioctl and a real API server."""

import json

import pytest

from lab.istio import release
from lab.istio.testing import serving_releases
from lab.kubernetes.testing import running_control_plane
from tests.support.kubectl import Kubectl

pytestmark = pytest.mark.lab

VERSION = release.RELEASE
ROLE = 'meshbridge.istio_vm.istio_control_plane : '
INTERNAL = 'networking.gke.io/load-balancer-type'
PLAY = '''
- hosts: localhost
  gather_facts: false
  roles:
    - role: meshbridge.istio_vm.istio_control_plane
'''


@pytest.fixture(scope='module')
def release_url(tmp_path_factory):
    with serving_releases(tmp_path_factory.mktemp('releases'), [VERSION]) as url:
        yield url


@pytest.fixture
def install(tmp_path, release_url, run_playbook):
    with running_control_plane(tmp_path / 'kube', lb_range='10.168.8.0/24') as kube:
        home = tmp_path / 'kubectl-home'
        home.mkdir()

        def run(expect_failure=False, **overrides):
            variables = {
                'istio_control_plane_kubeconfig': kube.kubeconfig, 'istio_control_plane_context': 'lab',
                'istio_control_plane_release_url': release_url,
                'istio_control_plane_cache_dir': str(tmp_path / 'cache'),
                'istio_control_plane_ca_dir': str(tmp_path / 'mesh-ca'), 'istio_control_plane_wait_timeout': 60,
                'istio_control_plane_version': VERSION}
            variables.update(('istio_control_plane_' + key, value) for key, value in overrides.items())
            return run_playbook(PLAY, extra_vars=variables, expect_failure=expect_failure)
        yield run, Kubectl(kube.kubeconfig, home)


def _gateway(kubectl):
    return kubectl.get('service', 'istio-eastwestgateway', 'istio-system')


def test_the_gateway_is_internal_and_admits_only_the_vms(install):
    run, kubectl = install
    run(eastwest_gateway_source_ranges=['10.168.0.20/32'])
    service = _gateway(kubectl)
    assert service['metadata']['annotations'][INTERNAL] == 'Internal'
    assert service['spec']['type'] == 'LoadBalancer'
    assert service['spec']['loadBalancerSourceRanges'] == ['10.168.0.20/32']
    assert {15012, 15017} <= {port['port'] for port in service['spec']['ports']}
    # Another VM: the ranges follow, and nothing else changes.
    run(eastwest_gateway_source_ranges=['10.168.0.20/32', '10.168.0.21/32'])
    assert _gateway(kubectl)['spec']['loadBalancerSourceRanges'] == ['10.168.0.20/32', '10.168.0.21/32']


def test_an_external_gateway_is_asked_for_and_never_open_to_all(install):
    run, kubectl = install
    refused = run(expect_failure=True, eastwest_gateway_internal=False)
    failure = refused.task(ROLE + "Check the control plane's settings")
    assert failure['failed'] and 'istio_control_plane_eastwest_gateway_source_ranges: [] is empty while the gateway is ' \
        'external' in str(failure['msg']) and 'opens istiod to the internet' in str(failure['msg']), failure['msg']
    refused = run(expect_failure=True, eastwest_gateway_source_ranges=['0.0.0.0/0'])
    failure = refused.task(ROLE + "Check the control plane's settings")
    assert failure['failed'] and 'has 0.0.0.0/0, which opens istiod (15012, 15017) to the internet' in str(failure['msg'])
    assert kubectl.missing('namespace', 'istio-system', 'default'), 'refused before anything was made'

    run(eastwest_gateway_internal=False, eastwest_gateway_source_ranges=['203.0.113.7/32'])
    service = _gateway(kubectl)
    assert INTERNAL not in (service['metadata'].get('annotations') or {}), json.dumps(service['metadata'])
    assert service['spec']['loadBalancerSourceRanges'] == ['203.0.113.7/32']
