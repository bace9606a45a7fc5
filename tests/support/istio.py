"""Istio settings the tests share."""

import yaml

# The east-west gateway of samples/multicluster/gen-eastwest-gateway.sh: istiod (15012) and its webhook (15017)
# reachable from outside the cluster, for VMs.
EASTWEST_GATEWAY_PORTS = [
    {'name': 'status-port', 'port': 15021, 'targetPort': 15021},
    {'name': 'tls', 'port': 15443, 'targetPort': 15443},
    {'name': 'tls-istiod', 'port': 15012, 'targetPort': 15012},
    {'name': 'tls-webhook', 'port': 15017, 'targetPort': 15017},
]


def istio_operator(network=None, autoregistration=False):
    """An IstioOperator as the tutorial's: mesh ID and cluster name set, and the east-west gateway; optionally with
    the cluster's network and WorkloadEntry auto-registration, as for VMs."""
    values = {'global': {'meshID': 'mesh1', 'multiCluster': {'clusterName': 'west'}}}
    gateway_labels = {'istio': 'eastwestgateway', 'app': 'istio-eastwestgateway'}
    if network:
        values['global']['network'] = network
        gateway_labels['topology.istio.io/network'] = network
    if autoregistration:
        values['pilot'] = {'env': {'PILOT_ENABLE_WORKLOAD_ENTRY_AUTOREGISTRATION': True}}
    gateway = {'name': 'istio-eastwestgateway', 'enabled': True, 'label': gateway_labels,
               'k8s': {'service': {'ports': EASTWEST_GATEWAY_PORTS}}}
    return yaml.safe_dump({'apiVersion': 'install.istio.io/v1alpha1', 'kind': 'IstioOperator',
                           'spec': {'values': values, 'components': {'ingressGateways': [gateway]}}})


# The tutorial's control plane: one network, istiod reachable through the east-west gateway.
TUTORIAL_ISTIO_OPERATOR = istio_operator()
