"""module_utils/istio_operator.py: the IstioOperator for VMs, the istiod exposure, and refused options."""

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import istio_operator as op


def _settings(**overrides):
    settings = {'version': '1.24.2', 'profile': 'default', 'revision': '', 'mesh_id': 'mesh1', 'cluster_name': 'west',
                'network': 'west-network', 'trust_domain': None, 'values': {}, 'components': {},
                'eastwest_gateway': True, 'expose_istiod': True}
    settings.update(overrides)
    return settings


def test_vm_operator_sets_mesh_network_cluster_and_autoregistration():
    spec = op.build_operator(_settings())['spec']
    assert spec['profile'] == 'default'
    assert spec['values']['global'] == {'meshID': 'mesh1', 'network': 'west-network',
                                        'multiCluster': {'clusterName': 'west'}}
    assert spec['values']['pilot']['env'] == {'PILOT_ENABLE_WORKLOAD_ENTRY_AUTOREGISTRATION': True,
                                              'PILOT_ENABLE_WORKLOAD_ENTRY_HEALTHCHECKS': True}
    assert 'revision' not in spec and 'meshConfig' not in spec


def test_eastwest_gateway_as_gen_eastwest_gateway_makes_it():
    gateways = op.build_operator(_settings())['spec']['components']['ingressGateways']
    assert [g['name'] for g in gateways] == ['istio-ingressgateway', 'istio-eastwestgateway']
    eastwest = gateways[1]
    assert eastwest['enabled'] is True
    assert eastwest['label'] == {'istio': 'eastwestgateway', 'app': 'istio-eastwestgateway',
                                 'topology.istio.io/network': 'west-network'}
    assert [(p['name'], p['port']) for p in eastwest['k8s']['service']['ports']] == [
        ('status-port', 15021), ('tls', 15443), ('tls-istiod', 15012), ('tls-webhook', 15017)]
    assert eastwest['k8s']['env'] == [{'name': 'ISTIO_META_REQUESTED_NETWORK_VIEW', 'value': 'west-network'}]


@pytest.mark.parametrize('profile, gateways', [
    ('default', ['istio-ingressgateway', 'istio-eastwestgateway']),
    ('demo', ['istio-ingressgateway', 'istio-eastwestgateway']),
    ('minimal', ['istio-eastwestgateway']),
    ('empty', ['istio-eastwestgateway']),
])
def test_the_profiles_ingress_gateway_stays_beside_the_eastwest_gateway(profile, gateways):
    # istioctl replaces the profile's ingressGateways with the IstioOperator's list (found with the real istioctl:
    # the east-west gateway alone left the storefront without its ingress gateway).
    spec = op.build_operator(_settings(profile=profile))['spec']
    assert [g['name'] for g in spec['components']['ingressGateways']] == gateways
    assert all(g['enabled'] for g in spec['components']['ingressGateways'])


def test_no_eastwest_gateway_when_not_asked():
    assert 'components' not in op.build_operator(_settings(eastwest_gateway=False))['spec']


def test_user_values_and_components_merge_under_the_options():
    operator = op.build_operator(_settings(
        values={'pilot': {'env': {'PILOT_TRACE_SAMPLING': '10'}}, 'global': {'logAsJson': True}},
        components={'pilot': {'k8s': {'replicaCount': 2}},
                    'ingressGateways': [{'name': 'istio-ingressgateway', 'enabled': False}]},
        trust_domain='example.org', revision='1-24-2'))
    spec = operator['spec']
    assert spec['values']['pilot']['env']['PILOT_TRACE_SAMPLING'] == '10'
    assert spec['values']['pilot']['env']['PILOT_ENABLE_WORKLOAD_ENTRY_HEALTHCHECKS'] is True
    assert spec['values']['global']['logAsJson'] is True
    assert spec['components']['pilot'] == {'k8s': {'replicaCount': 2}}
    assert [g['name'] for g in spec['components']['ingressGateways']] == ['istio-ingressgateway',
                                                                          'istio-eastwestgateway']
    assert spec['meshConfig'] == {'trustDomain': 'example.org'}
    assert spec['revision'] == '1-24-2'
    assert operator['metadata']['name'] == 'meshbridge-1-24-2'


def test_digest_label_changes_with_any_setting_and_the_version():
    def digest(**overrides):
        return op.build_operator(_settings(**overrides))['spec']['values']['pilot']['deploymentLabels'][op.DIGEST_LABEL]

    base = digest()
    assert base == digest()
    assert len(base) <= 63
    assert base != digest(version='1.24.3')
    assert base != digest(values={'pilot': {'env': {'X': '1'}}})
    assert base != digest(mesh_id='mesh2')


def test_expose_istiod_is_revision_aware():
    gateway, virtual_service = op.expose_istiod('')
    assert gateway['metadata'] == {'name': 'istiod-gateway', 'namespace': 'istio-system'}
    assert gateway['spec']['selector'] == {'istio': 'eastwestgateway'}
    assert [(s['port']['number'], s['tls']['mode']) for s in gateway['spec']['servers']] == [
        (15012, 'PASSTHROUGH'), (15017, 'PASSTHROUGH')]
    routes = [(t['match'][0]['port'], t['route'][0]['destination']) for t in virtual_service['spec']['tls']]
    assert routes == [(15012, {'host': 'istiod.istio-system.svc.cluster.local', 'port': {'number': 15012}}),
                      (15017, {'host': 'istiod.istio-system.svc.cluster.local', 'port': {'number': 443}})]
    revisioned = op.expose_istiod('canary')[1]
    assert revisioned['spec']['tls'][0]['route'][0]['destination']['host'] == \
        'istiod-canary.istio-system.svc.cluster.local'


@pytest.mark.parametrize('overrides, message', [
    ({'mesh_id': 'Mesh_1'}, "mesh_id 'Mesh_1' is not a DNS-1123 label"),
    ({'network': 'net.1'}, "network 'net.1' is not a DNS-1123 label"),
    ({'cluster_name': 'a' * 64}, 'cluster_name'),
    ({'revision': '1.24'}, "revision '1.24' is not a DNS-1123 label"),
    ({'trust_domain': 'Example..org'}, "trust_domain 'Example..org' is not a DNS name"),
    ({'profile': 'tiny'}, "profile 'tiny' is not an Istio profile"),
    ({'values': {'global': {'meshID': 'x'}}}, 'values.global.meshID is set by option mesh_id'),
    ({'values': {'global': {'multiCluster': {'clusterName': 'x'}}}}, 'set cluster_name instead'),
    ({'components': {'ingressGateways': [{'name': 'istio-eastwestgateway'}]}}, 'must not list istio-eastwestgateway'),
])
def test_bad_options_are_refused_naming_the_option(overrides, message):
    with pytest.raises(op.OperatorError, match=message.replace('.', r'\.').replace('(', r'\(')):
        op.build_operator(_settings(**overrides))
