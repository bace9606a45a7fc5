"""The IstioOperator as the stand-in istioctl reads it: checked as istioctl checks it, merged with its profile.

Real istioctl unmarshals the file strictly into the IstioOperator and Values protos, so an unknown field, a wrong
type, an unknown profile or an invalid revision fails the command before anything reaches the cluster. The same
checks are made here, for the fields listed below. Simplified: ``meshConfig`` and ``values`` are checked for known
top-level keys (and ``values.global`` for the keys the collection sets), not to the full depth of their protos;
profiles carry only which components they enable, not their tuning.
"""

import copy
import re

API_VERSION = 'install.istio.io/v1alpha1'
KIND = 'IstioOperator'

# Which components each built-in profile enables (istio/manifests/profiles); the ambient/openshift/remote
# profiles are not modelled and are refused as unknown by this stand-in.
PROFILES = {
    'default': {'pilot': True, 'ingress': True, 'egress': False},
    'stable': {'pilot': True, 'ingress': True, 'egress': False},
    'preview': {'pilot': True, 'ingress': True, 'egress': False},
    'demo': {'pilot': True, 'ingress': True, 'egress': True},
    'minimal': {'pilot': True, 'ingress': False, 'egress': False},
    'empty': {'pilot': False, 'ingress': False, 'egress': False},
}

_SPEC_FIELDS = {
    'profile': str, 'installPackagePath': str, 'hub': str, 'tag': (str, int, float), 'namespace': str,
    'revision': str, 'compatibilityVersion': str, 'meshConfig': dict, 'components': dict, 'values': dict,
    'unvalidatedValues': dict,
}
_COMPONENTS = {'base': dict, 'pilot': dict, 'cni': dict, 'ztunnel': dict, 'ingressGateways': list,
               'egressGateways': list}
_COMPONENT_FIELDS = {'enabled': bool, 'namespace': str, 'hub': str, 'tag': (str, int, float), 'k8s': dict}
_GATEWAY_FIELDS = dict(_COMPONENT_FIELDS, name=str, label=dict)
_K8S_FIELDS = {
    'affinity': dict, 'env': list, 'hpaSpec': dict, 'imagePullPolicy': str, 'nodeSelector': dict,
    'podDisruptionBudget': dict, 'podAnnotations': dict, 'priorityClassName': str, 'readinessProbe': dict,
    'replicaCount': int, 'resources': dict, 'service': dict, 'strategy': dict, 'tolerations': list,
    'serviceAnnotations': dict, 'securityContext': dict, 'volumes': list, 'volumeMounts': list, 'overlays': list,
}
_MESH_CONFIG_FIELDS = {
    'accessLogFile': str, 'accessLogEncoding': str, 'accessLogFormat': str, 'defaultConfig': dict,
    'trustDomain': str, 'trustDomainAliases': list, 'rootNamespace': str, 'enableAutoMtls': bool,
    'enableTracing': bool, 'outboundTrafficPolicy': dict, 'defaultProviders': dict, 'extensionProviders': list,
    'enablePrometheusMerge': bool, 'discoverySelectors': list, 'meshMTLS': dict, 'localityLbSetting': dict,
    'ingressClass': str, 'ingressService': str, 'ingressControllerMode': str, 'ingressSelector': str,
    'protocolDetectionTimeout': str, 'connectTimeout': str, 'serviceSettings': list, 'caCertificates': list,
}
_VALUES_FIELDS = {
    'global': dict, 'pilot': dict, 'gateways': dict, 'sidecarInjectorWebhook': dict, 'telemetry': dict,
    'cni': dict, 'ztunnel': dict, 'base': dict, 'istiodRemote': dict, 'revision': str, 'meshConfig': dict,
    'defaultRevision': str, 'profile': str, 'revisionTags': list, 'gatewayClasses': dict, 'ownerName': str,
    'experimental': dict, 'platform': str,
}
_VALUES_GLOBAL_FIELDS = {
    'meshID': str, 'network': str, 'multiCluster': dict, 'hub': str, 'tag': (str, int, float),
    'istioNamespace': str, 'jwtPolicy': str, 'proxy': dict, 'proxy_init': dict, 'logging': dict,
    'imagePullPolicy': str, 'imagePullSecrets': list, 'meshNetworks': dict, 'pilotCertProvider': str,
    'caAddress': str, 'externalIstiod': bool, 'remotePilotAddress': str, 'configCluster': bool,
    'defaultPodDisruptionBudget': dict, 'defaultResources': dict, 'priorityClassName': str,
    'logAsJson': bool, 'omitSidecarInjectorConfigMap': bool, 'platform': str, 'variant': str,
}
_MULTICLUSTER_FIELDS = {'clusterName': str, 'enabled': bool}
_PILOT_VALUES_FIELDS = {
    'env': dict, 'autoscaleEnabled': bool, 'autoscaleMin': int, 'autoscaleMax': int, 'replicaCount': int,
    'resources': dict, 'deploymentLabels': dict, 'podLabels': dict, 'podAnnotations': dict, 'traceSampling': float,
    'image': str, 'hub': str, 'tag': (str, int, float), 'nodeSelector': dict, 'tolerations': list, 'enabled': bool,
    'cpu': dict, 'memory': dict, 'keepaliveMaxServerConnectionAge': str, 'configMap': bool, 'variant': str,
}

# DNS-1123 label, as istioctl requires of a revision (it becomes part of object names and label values).
_REVISION = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')


class OperatorError(Exception):
    """The IstioOperator is refused; the message is istioctl's kind of message."""


def _type_name(expected):
    names = {str: 'string', bool: 'bool', int: 'int', float: 'number', dict: 'map', list: 'list'}
    if isinstance(expected, tuple):
        return ' or '.join(names[t] for t in expected)
    return names[expected]


def _check_fields(value, allowed, where):
    if not isinstance(value, dict):
        raise OperatorError('%s: expected a map, got %r' % (where, value))
    for key, item in value.items():
        if key not in allowed:
            raise OperatorError('unknown field "%s" in %s' % (key, where))
        expected = allowed[key]
        if item is None:
            continue
        if isinstance(item, bool) and expected is not bool and not (isinstance(expected, tuple) and bool in expected):
            raise OperatorError('%s.%s: cannot unmarshal bool into a %s' % (where, key, _type_name(expected)))
        if not isinstance(item, expected):
            raise OperatorError('%s.%s: cannot unmarshal %s into a %s'
                                % (where, key, type(item).__name__, _type_name(expected)))


def validate(iop):
    """Refuse what istioctl refuses; return the spec."""
    if not isinstance(iop, dict):
        raise OperatorError('could not unmarshal the IstioOperator: not a YAML map')
    if iop.get('apiVersion') != API_VERSION or iop.get('kind') != KIND:
        raise OperatorError('the file must hold an %s of apiVersion %s, got kind %r apiVersion %r'
                            % (KIND, API_VERSION, iop.get('kind'), iop.get('apiVersion')))
    spec = iop.get('spec') or {}
    _check_fields(spec, _SPEC_FIELDS, 'IstioOperatorSpec')
    profile = spec.get('profile', 'default')
    if profile not in PROFILES:
        raise OperatorError('could not read profile "%s": profile does not exist (known: %s)'
                            % (profile, ', '.join(sorted(PROFILES))))
    revision = spec.get('revision') or ''
    if revision and (not _REVISION.match(revision) or len(revision) > 63):
        raise OperatorError('invalid revision specified: %s (a DNS-1123 label: lower case letters, digits and '
                            "'-', no '.')" % revision)
    _check_fields(spec.get('meshConfig') or {}, _MESH_CONFIG_FIELDS, 'MeshConfig')
    values = spec.get('values') or {}
    _check_fields(values, _VALUES_FIELDS, 'Values')
    _check_fields(values.get('global') or {}, _VALUES_GLOBAL_FIELDS, 'Values.global')
    _check_fields((values.get('global') or {}).get('multiCluster') or {}, _MULTICLUSTER_FIELDS,
                  'Values.global.multiCluster')
    _check_fields(values.get('pilot') or {}, _PILOT_VALUES_FIELDS, 'Values.pilot')
    components = spec.get('components') or {}
    _check_fields(components, _COMPONENTS, 'IstioComponentSpec')
    for name in ('base', 'pilot', 'cni', 'ztunnel'):
        _check_component(components.get(name) or {}, _COMPONENT_FIELDS, 'components.' + name)
    for kind in ('ingressGateways', 'egressGateways'):
        for index, gateway in enumerate(components.get(kind) or []):
            where = 'components.%s[%d]' % (kind, index)
            _check_component(gateway, _GATEWAY_FIELDS, where)
            if not gateway.get('name'):
                raise OperatorError('%s: gateway name must be set' % where)
    return spec


def _check_component(component, allowed, where):
    _check_fields(component, allowed, where)
    if component.get('k8s'):
        _check_fields(component['k8s'], _K8S_FIELDS, where + '.k8s')


def set_path(iop, assignment):
    """Apply one ``--set path=value`` (``values.global.meshID=mesh1``, ``components.ingressGateways[0].enabled=false``)
    to the IstioOperator."""
    if '=' not in assignment:
        raise OperatorError('--set %s: expected path=value' % assignment)
    path, raw = assignment.split('=', 1)
    value = {'true': True, 'false': False}.get(raw, raw)
    if isinstance(value, str) and re.fullmatch(r'-?\d+', raw):
        value = int(raw)
    keys = []
    for part in path.split('.'):
        match = re.fullmatch(r'([^\[\]]+)((?:\[\d+\])*)', part)
        if not match:
            raise OperatorError('--set %s: cannot parse path element %r' % (assignment, part))
        keys.append(match.group(1))
        keys += [int(i) for i in re.findall(r'\[(\d+)\]', match.group(2))]
    if keys[0] == 'spec':
        keys = keys[1:]
    node = iop.setdefault('spec', {})
    for key, following in zip(keys, keys[1:]):
        node = _child(node, key, [] if isinstance(following, int) else {}, assignment)
    _store(node, keys[-1], value, assignment)


def _child(node, key, empty, assignment):
    if isinstance(key, int):
        if not isinstance(node, list) or key > len(node):
            raise OperatorError('--set %s: index %d is out of range' % (assignment, key))
        if key == len(node):
            node.append(empty)
        return node[key]
    if not isinstance(node, dict):
        raise OperatorError('--set %s: %s is not a map' % (assignment, key))
    return node.setdefault(key, empty)


def _store(node, key, value, assignment):
    if isinstance(key, int):
        _child(node, key, None, assignment)
    elif not isinstance(node, dict):
        raise OperatorError('--set %s: %s is not a map' % (assignment, key))
    node[key] = value


class Effective:
    """What the install will create, after profile defaults: the settings the manifests are rendered from."""

    def __init__(self, iop, version):
        spec = copy.deepcopy(validate(iop))
        self.version = version
        self.profile = spec.get('profile', 'default')
        self.revision = spec.get('revision') or ''
        self.values = spec.get('values') or {}
        global_values = self.values.get('global') or {}
        self.namespace = spec.get('namespace') or global_values.get('istioNamespace') or 'istio-system'
        self.hub = spec.get('hub') or global_values.get('hub') or 'docker.io/istio'
        self.tag = str(spec.get('tag') or global_values.get('tag') or version)
        if global_values.get('variant'):  # Istio's charts: image tag <tag>-<variant> (distroless, debug)
            self.tag += '-' + global_values['variant']
        self.mesh_id = global_values.get('meshID') or ''
        self.network = global_values.get('network') or ''
        self.cluster_name = (global_values.get('multiCluster') or {}).get('clusterName') or 'Kubernetes'
        self.mesh_config = spec.get('meshConfig') or {}
        self.trust_domain = self.mesh_config.get('trustDomain') or 'cluster.local'
        components = spec.get('components') or {}
        enabled = PROFILES[self.profile]
        self.base = _enabled(components.get('base'), self.profile != 'empty')
        self.pilot = _enabled(components.get('pilot'), enabled['pilot'])
        self.pilot_spec = components.get('pilot') or {}
        self.gateways = _gateways(components.get('ingressGateways'), 'istio-ingressgateway', enabled['ingress']) + \
            _gateways(components.get('egressGateways'), 'istio-egressgateway', enabled['egress'], egress=True)

    @property
    def suffix(self):
        return '-' + self.revision if self.revision else ''

    @property
    def revision_label(self):
        return self.revision or 'default'


def _enabled(component, default):
    if component and component.get('enabled') is not None:
        return bool(component['enabled'])
    return default


def _gateways(listed, profile_gateway, profile_enables, egress=False):
    """The profile's gateway (overridden by an entry of the same name), then the other listed gateways."""
    by_name = {g['name']: g for g in listed or []}
    result = []
    own = by_name.pop(profile_gateway, None)
    if own is not None or profile_enables:
        merged = dict(own or {}, name=profile_gateway)
        if _enabled(merged, profile_enables):
            result.append(dict(merged, egress=egress))
    for gateway in listed or []:
        if gateway['name'] in by_name and gateway.get('enabled', True):
            result.append(dict(gateway, egress=egress))
    return result
