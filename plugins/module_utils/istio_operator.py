# Copyright: (c) 2026, meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IstioOperator for a control plane that serves VMs, and the objects that expose istiod to them.

What Istio's "Virtual Machine Installation" guide installs, from the module's options:
``values.global.meshID``, ``.network``, ``.multiCluster.clusterName``, workload entry auto-registration and health
checks on (``values.pilot.env``), the trust domain in ``meshConfig``, and the east-west gateway of
``samples/multicluster/gen-eastwest-gateway.sh`` (``istio: eastwestgateway``, ports 15021, 15443, 15012, 15017).
``samples/multicluster/expose-istiod.yaml`` becomes Gateway ``istiod-gateway`` and VirtualService ``istiod-vs``,
routed to the revision's istiod.

A digest of the whole IstioOperator (and the version) is set as a label on istiod's Deployment
(``values.pilot.deploymentLabels``), so a later run sees a change to ``values`` or ``components`` that no other
setting it reads shows.
"""

import copy
import hashlib
import ipaddress
import json
import re

ISTIO_NAMESPACE = 'istio-system'
EASTWEST_GATEWAY = 'istio-eastwestgateway'
EXPOSE_GATEWAY = 'istiod-gateway'
EXPOSE_VIRTUAL_SERVICE = 'istiod-vs'
DIGEST_LABEL = 'meshbridge.io/install-digest'
PROFILES = ('default', 'demo', 'minimal', 'empty', 'preview', 'stable', 'ambient', 'remote', 'openshift')
# The profiles whose components include the ingress gateway (manifests/profiles/: default.yaml enables
# istio-ingressgateway; demo, openshift, preview and stable overlay default.yaml without touching it).
INGRESS_GATEWAY = 'istio-ingressgateway'
PROFILES_WITH_INGRESS_GATEWAY = ('default', 'demo', 'openshift', 'preview', 'stable')

_EASTWEST_PORTS = [
    {'name': 'status-port', 'port': 15021, 'targetPort': 15021},
    {'name': 'tls', 'port': 15443, 'targetPort': 15443},
    {'name': 'tls-istiod', 'port': 15012, 'targetPort': 15012},
    {'name': 'tls-webhook', 'port': 15017, 'targetPort': 15017},
]
# Lower-case DNS-1123 labels: these names end up in label values, SPIFFE IDs and object names.
_DNS_LABEL = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')
# A trust domain is a DNS name (dot-separated labels).
_DNS_NAME = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')


class OperatorError(Exception):
    """An option cannot make a valid IstioOperator; the message names the option and the fix."""


def check_name(option, value, pattern=_DNS_LABEL, max_length=63, what='a DNS-1123 label'):
    if value is None or value == '':
        return
    if len(value) > max_length or not pattern.match(value):
        raise OperatorError('%s %r is not %s: use lower-case letters, digits and "-", starting and ending with a '
                            'letter or digit, at most %d characters' % (option, value, what, max_length))


def validate(settings):
    """Refuse option values Istio would refuse or mangle, before anything is changed."""
    check_name('mesh_id', settings.get('mesh_id'))
    check_name('network', settings.get('network'))
    check_name('cluster_name', settings.get('cluster_name'))
    check_name('revision', settings.get('revision'))
    check_name('trust_domain', settings.get('trust_domain'), _DNS_NAME, 253, 'a DNS name')
    if settings.get('profile') not in PROFILES:
        raise OperatorError('profile %r is not an Istio profile: use one of %s'
                            % (settings.get('profile'), ', '.join(PROFILES)))
    values_global = (settings.get('values') or {}).get('global') or {}
    for option, key in (('mesh_id', 'meshID'), ('network', 'network')):
        if key in values_global:
            raise OperatorError('values.global.%s is set by option %s: set %s instead and remove it from values'
                                % (key, option, option))
    if 'clusterName' in (values_global.get('multiCluster') or {}):
        raise OperatorError('values.global.multiCluster.clusterName is set by option cluster_name: set cluster_name '
                            'instead and remove it from values')
    for source_range in settings.get('eastwest_gateway_source_ranges') or []:
        try:
            if '/' not in str(source_range):  # Kubernetes takes CIDR ranges only
                raise ValueError('no prefix length')
            network = ipaddress.ip_network(source_range, strict=True)
        except ValueError as exc:
            raise OperatorError('eastwest_gateway_source_ranges: %r is not a CIDR range (%s): give ranges such as '
                                '10.168.0.20/32' % (source_range, exc)) from None
        if network.prefixlen == 0:
            raise OperatorError('eastwest_gateway_source_ranges: %s admits every address; list the addresses that '
                                'need istiod (the VMs\') instead, or give none' % source_range)
    for gateway in (settings.get('components') or {}).get('ingressGateways') or []:
        if isinstance(gateway, dict) and gateway.get('name') == EASTWEST_GATEWAY:
            raise OperatorError('components.ingressGateways must not list %s: the module adds it when '
                                'eastwest_gateway is true' % EASTWEST_GATEWAY)


def suffix(revision):
    return '-%s' % revision if revision else ''


def _merge(base, overlay):
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _eastwest_gateway(network, annotations=None, source_ranges=None):
    """The east-west gateway component. ``annotations`` go on its LoadBalancer Service (``k8s.serviceAnnotations``;
    on GKE ``networking.gke.io/load-balancer-type: Internal`` makes it an internal passthrough Network Load Balancer
    with an address in the VPC), and ``source_ranges`` become its ``loadBalancerSourceRanges`` (``k8s.service``;
    GKE admits only them through the firewall rules it makes for the load balancer). istioctl patches both into
    the Service it renders (operator/pkg/render/postprocess.go)."""
    label = {'istio': 'eastwestgateway', 'app': EASTWEST_GATEWAY}
    service = {'ports': copy.deepcopy(_EASTWEST_PORTS)}
    if source_ranges:
        service['loadBalancerSourceRanges'] = list(source_ranges)
    gateway = {'name': EASTWEST_GATEWAY, 'enabled': True, 'label': label, 'k8s': {'service': service}}
    if annotations:
        gateway['k8s']['serviceAnnotations'] = {key: str(value) for key, value in annotations.items()}
    if network:
        label['topology.istio.io/network'] = network
        gateway['k8s']['env'] = [{'name': 'ISTIO_META_REQUESTED_NETWORK_VIEW', 'value': network}]
    return gateway


def build_operator(settings):
    """The IstioOperator (a dict) for ``settings`` (the module's options), digest label included."""
    validate(settings)
    values = _merge({}, settings.get('values') or {})
    global_values = values.setdefault('global', {})
    if settings.get('mesh_id'):
        global_values['meshID'] = settings['mesh_id']
    if settings.get('network'):
        global_values['network'] = settings['network']
    if settings.get('cluster_name'):
        global_values.setdefault('multiCluster', {})['clusterName'] = settings['cluster_name']
    pilot_env = values.setdefault('pilot', {}).setdefault('env', {})
    pilot_env['PILOT_ENABLE_WORKLOAD_ENTRY_AUTOREGISTRATION'] = True
    pilot_env['PILOT_ENABLE_WORKLOAD_ENTRY_HEALTHCHECKS'] = True

    components = _merge({}, settings.get('components') or {})
    if settings.get('eastwest_gateway', True):
        # istioctl replaces the profile's list of ingress gateways with the one given, so adding the east-west
        # gateway alone would drop the profile's ingress gateway (the storefront's); it is listed again unless
        # components.ingressGateways was given, which then says every ingress gateway.
        if 'ingressGateways' not in components and (settings.get('profile') or 'default') in \
                PROFILES_WITH_INGRESS_GATEWAY:
            components['ingressGateways'] = [{'name': INGRESS_GATEWAY, 'enabled': True}]
        components.setdefault('ingressGateways', []).append(_eastwest_gateway(
            settings.get('network'), settings.get('eastwest_gateway_annotations'),
            settings.get('eastwest_gateway_source_ranges')))

    spec = {'profile': settings.get('profile') or 'default', 'values': values}
    if settings.get('revision'):
        spec['revision'] = settings['revision']
    if settings.get('trust_domain'):
        spec['meshConfig'] = {'trustDomain': settings['trust_domain']}
    if components:
        spec['components'] = components
    operator = {'apiVersion': 'install.istio.io/v1alpha1', 'kind': 'IstioOperator',
                'metadata': {'name': 'meshbridge%s' % suffix(settings.get('revision')),
                             'namespace': ISTIO_NAMESPACE},
                'spec': spec}
    values['pilot'].setdefault('deploymentLabels', {})[DIGEST_LABEL] = digest(operator, settings['version'])
    return operator


def digest(operator, version):
    """A label-sized digest of the IstioOperator and the version it is installed with."""
    text = json.dumps({'version': version, 'operator': operator}, sort_keys=True, separators=(',', ':'))
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[:40]


def expose_istiod(revision):
    """Gateway ``istiod-gateway`` (15012, 15017; TLS passthrough on the east-west gateway) and VirtualService
    ``istiod-vs`` routing them to the revision's istiod (15012 and its webhook port 443)."""
    host = 'istiod%s.%s.svc.cluster.local' % (suffix(revision), ISTIO_NAMESPACE)
    gateway = {
        'apiVersion': 'networking.istio.io/v1', 'kind': 'Gateway',
        'metadata': {'name': EXPOSE_GATEWAY, 'namespace': ISTIO_NAMESPACE},
        'spec': {
            'selector': {'istio': 'eastwestgateway'},
            'servers': [
                {'port': {'name': 'tls-istiod', 'number': 15012, 'protocol': 'TLS'}, 'tls': {'mode': 'PASSTHROUGH'},
                 'hosts': ['*']},
                {'port': {'name': 'tls-istiodwebhook', 'number': 15017, 'protocol': 'TLS'},
                 'tls': {'mode': 'PASSTHROUGH'}, 'hosts': ['*']},
            ],
        },
    }
    virtual_service = {
        'apiVersion': 'networking.istio.io/v1', 'kind': 'VirtualService',
        'metadata': {'name': EXPOSE_VIRTUAL_SERVICE, 'namespace': ISTIO_NAMESPACE},
        'spec': {
            'hosts': ['*'],
            'gateways': [EXPOSE_GATEWAY],
            'tls': [
                {'match': [{'port': 15012, 'sniHosts': ['*']}],
                 'route': [{'destination': {'host': host, 'port': {'number': 15012}}}]},
                {'match': [{'port': 15017, 'sniHosts': ['*']}],
                 'route': [{'destination': {'host': host, 'port': {'number': 443}}}]},
            ],
        },
    }
    return [gateway, virtual_service]
