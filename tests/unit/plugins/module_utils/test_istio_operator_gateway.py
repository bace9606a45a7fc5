"""Who may reach istiod through the east-west gateway: its Service's annotations and source ranges in the
IstioOperator, where istioctl patches them into the Service (operator/pkg/render/postprocess.go)."""

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import istio_operator as op

INTERNAL = {'networking.gke.io/load-balancer-type': 'Internal'}


def _settings(**overrides):
    settings = dict(version='1.30.4', profile='default', revision='', mesh_id='mesh1', cluster_name='west',
                    network='west-network', trust_domain='cluster.local', values={}, components={},
                    eastwest_gateway=True, expose_istiod=True)
    settings.update(overrides)
    return settings


def _gateway(settings):
    gateways = op.build_operator(settings)['spec']['components']['ingressGateways']
    [gateway] = [g for g in gateways if g['name'] == op.EASTWEST_GATEWAY]
    return gateway


def test_annotations_and_source_ranges_go_on_the_gateway_service():
    gateway = _gateway(_settings(eastwest_gateway_annotations=INTERNAL,
                                 eastwest_gateway_source_ranges=['10.168.0.20/32', '10.168.0.21/32']))
    assert gateway['k8s']['serviceAnnotations'] == INTERNAL
    assert gateway['k8s']['service']['loadBalancerSourceRanges'] == ['10.168.0.20/32', '10.168.0.21/32']
    assert {port['port'] for port in gateway['k8s']['service']['ports']} == {15021, 15443, 15012, 15017}


def test_none_given_leaves_the_service_as_it_was():
    gateway = _gateway(_settings())
    assert 'serviceAnnotations' not in gateway['k8s']
    assert 'loadBalancerSourceRanges' not in gateway['k8s']['service']


def test_a_change_of_who_may_reach_istiod_is_a_change_of_the_install():
    before = op.build_operator(_settings(eastwest_gateway_source_ranges=['10.168.0.20/32']))
    after = op.build_operator(_settings(eastwest_gateway_source_ranges=['10.168.0.21/32']))
    label = op.DIGEST_LABEL
    assert before['spec']['values']['pilot']['deploymentLabels'][label] != \
        after['spec']['values']['pilot']['deploymentLabels'][label]


@pytest.mark.parametrize('ranges, message', [
    (['10.168.0.20/32'], None),
    (['10.168.0.20'], 'is not a CIDR range'),
    (['10.168.0.1/16'], 'is not a CIDR range'),
    (['everyone'], 'is not a CIDR range'),
    (['0.0.0.0/0'], 'admits every address'),
])
def test_source_ranges_are_cidrs_and_never_everyone(ranges, message):
    if message is None:
        assert _gateway(_settings(eastwest_gateway_source_ranges=ranges))['k8s']['service'][
            'loadBalancerSourceRanges'] == ranges
        return
    with pytest.raises(op.OperatorError) as refused:
        op.build_operator(_settings(eastwest_gateway_source_ranges=ranges))
    assert message in str(refused.value)
