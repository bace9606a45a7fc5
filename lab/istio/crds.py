"""Istio's CustomResourceDefinitions, built at run time from the PyPI package ``cloudcoil-models-istio``.

That package holds pydantic models generated from Istio's own CRDs (release 1.24); their JSON schemas are turned
back into structural openAPIV3Schemas here, so nothing of Istio's CRD YAML is kept in this repository.

Simplified, and why:
- a union of alternatives (Istio's ``oneOf`` "only one of httpGet/tcpSocket/exec") becomes one object with the
  union of their properties: the exclusivity is not checked, every field is still typed;
- nullable markers are dropped (the API server drops nulls from non-nullable fields anyway);
- CEL rules (``x-kubernetes-validations``) are not in the models, so they are not enforced;
- ``status`` keeps unknown fields, as the real CRDs' status does in effect (istiod writes it).
"""

import importlib

# cloudcoil-models-istio==1.24.2.1 is the version these definitions were checked against.
_MODELS = 'cloudcoil.models.istio'

# (group, kind, plural, short names, [(version, model module)], storage version)
_DEFINITIONS = [
    ('networking.istio.io', 'WorkloadGroup', 'workloadgroups', ['wg'], ['v1', 'v1beta1', 'v1alpha3'], 'v1'),
    ('networking.istio.io', 'WorkloadEntry', 'workloadentries', ['we'], ['v1', 'v1beta1', 'v1alpha3'], 'v1'),
    ('networking.istio.io', 'ServiceEntry', 'serviceentries', ['se'], ['v1', 'v1beta1', 'v1alpha3'], 'v1'),
    ('networking.istio.io', 'Gateway', 'gateways', ['gw'], ['v1', 'v1beta1', 'v1alpha3'], 'v1'),
    ('networking.istio.io', 'VirtualService', 'virtualservices', ['vs'], ['v1', 'v1beta1', 'v1alpha3'], 'v1'),
    ('networking.istio.io', 'DestinationRule', 'destinationrules', ['dr'], ['v1', 'v1beta1', 'v1alpha3'], 'v1'),
    ('networking.istio.io', 'Sidecar', 'sidecars', [], ['v1', 'v1beta1', 'v1alpha3'], 'v1'),
    ('networking.istio.io', 'EnvoyFilter', 'envoyfilters', [], ['v1alpha3'], 'v1alpha3'),
    ('networking.istio.io', 'ProxyConfig', 'proxyconfigs', [], ['v1beta1'], 'v1beta1'),
    ('security.istio.io', 'PeerAuthentication', 'peerauthentications', ['pa'], ['v1', 'v1beta1'], 'v1'),
    ('security.istio.io', 'AuthorizationPolicy', 'authorizationpolicies', ['ap'], ['v1', 'v1beta1'], 'v1'),
    ('security.istio.io', 'RequestAuthentication', 'requestauthentications', ['ra'], ['v1', 'v1beta1'], 'v1'),
    ('telemetry.istio.io', 'Telemetry', 'telemetries', ['telemetry'], ['v1', 'v1alpha1'], 'v1'),
    ('extensions.istio.io', 'WasmPlugin', 'wasmplugins', [], ['v1alpha1'], 'v1alpha1'),
]

# The schema keywords a structural openAPIV3Schema keeps as they are.
_KEPT = ('type', 'enum', 'pattern', 'minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'format',
         'required')
_PRESERVE = {'x-kubernetes-preserve-unknown-fields': True}


def _model(group, version, kind):
    module = importlib.import_module('%s.%s.%s' % (_MODELS, group.split('.', maxsplit=1)[0], version))
    return getattr(module, kind)


class _Converter:
    """Pydantic's JSON schema of one model -> a structural openAPIV3Schema."""

    def __init__(self, definitions):
        self.definitions = definitions

    def convert(self, schema, seen=()):
        if '$ref' in schema:
            name = schema['$ref'].rsplit('/', 1)[-1]
            if name in seen:  # recursive type: no Istio CRD has one, but never loop
                return dict(_PRESERVE, type='object')
            return self.convert(self.definitions[name], seen + (name,))
        alternatives = [a for a in schema.get('anyOf') or schema.get('oneOf') or [] if a.get('type') != 'null']
        if alternatives:
            return self._union(alternatives, schema, seen)
        out = {k: schema[k] for k in _KEPT if k in schema}
        if 'const' in schema:
            out['enum'] = [schema['const']]
        if 'description' in schema:
            out['description'] = schema['description']
        kind = schema.get('type')
        if kind == 'object' or 'properties' in schema:
            out['type'] = 'object'
            if schema.get('properties'):
                out['properties'] = {k: self.convert(v, seen) for k, v in schema['properties'].items()}
            extra = schema.get('additionalProperties')
            if isinstance(extra, dict) and extra and not schema.get('properties'):
                out['additionalProperties'] = self.convert(extra, seen)
            elif not schema.get('properties'):
                out.update(_PRESERVE)  # free-form object (google.protobuf.Struct)
        elif kind == 'array':
            out['items'] = self.convert(schema.get('items') or {}, seen)
        elif not kind:
            return dict(_PRESERVE)
        return out

    def _union(self, alternatives, schema, seen):
        converted = [self.convert(a, seen) for a in alternatives]
        kinds = {c.get('type') for c in converted}
        if kinds == {'integer', 'string'}:
            return {'x-kubernetes-int-or-string': True}
        if len(converted) == 1:
            single = converted[0]
            for key in ('maxItems', 'minItems'):
                if key in schema:
                    single[key] = schema[key]
            return single
        merged = {'type': 'object', 'properties': {}}
        for alternative in converted:
            merged['properties'].update(alternative.get('properties') or {})
        return merged


def _version_schema(group, version, kind):
    model_schema = _model(group, version, kind).model_json_schema()
    converter = _Converter(model_schema.get('$defs') or {})
    spec = converter.convert(model_schema['properties']['spec'])
    return {
        'type': 'object',
        'properties': {
            'spec': spec,
            'status': dict(_PRESERVE, type='object'),
        },
    }


def istio_crds(revision_label='default'):
    """The CustomResourceDefinitions a real install's ``base`` component creates (the ones modelled here)."""
    crds = []
    for group, kind, plural, short_names, versions, storage in _DEFINITIONS:
        crds.append({
            'apiVersion': 'apiextensions.k8s.io/v1',
            'kind': 'CustomResourceDefinition',
            'metadata': {
                'name': '%s.%s' % (plural, group),
                'labels': {'app': 'istio-pilot', 'chart': 'istio', 'heritage': 'Tiller', 'release': 'istio',
                           'istio.io/rev': revision_label},
            },
            'spec': {
                'group': group,
                'names': {'kind': kind, 'listKind': kind + 'List', 'plural': plural, 'singular': kind.lower(),
                          'shortNames': short_names, 'categories': ['istio-io', group.split('.', maxsplit=1)[0] + '-istio-io']},
                'scope': 'Namespaced',
                'versions': [{'name': version, 'served': True, 'storage': version == storage,
                              'subresources': {'status': {}},
                              'schema': {'openAPIV3Schema': _version_schema(group, version, kind)}}
                             for version in versions],
            },
        })
    return crds
