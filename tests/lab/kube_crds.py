"""Istio-like CustomResourceDefinitions for the stand-in's tests: structural schemas with the features Istio's
CRDs use (nested objects, maps of integers, int-or-string, a preserve-unknown-fields status, several versions)."""

import copy

_STATUS = {'type': 'object', 'x-kubernetes-preserve-unknown-fields': True}

_WORKLOAD_ENTRY_SPEC = {
    'type': 'object',
    'required': ['address'],
    'properties': {
        'address': {'type': 'string', 'maxLength': 256},
        'labels': {'type': 'object', 'additionalProperties': {'type': 'string'}},
        'locality': {'type': 'string'},
        'network': {'type': 'string'},
        'ports': {'type': 'object', 'additionalProperties': {'type': 'integer', 'minimum': 0, 'maximum': 4294967295}},
        'serviceAccount': {'type': 'string'},
        'weight': {'type': 'integer', 'minimum': 0},
    },
}

# "At most one of httpGet and tcpSocket", written as Istio's generated CRDs write it: oneOf over required.
_AT_MOST_ONE_HANDLER = [
    {'not': {'anyOf': [{'required': ['httpGet']}, {'required': ['tcpSocket']}]}},
    {'required': ['httpGet']},
    {'required': ['tcpSocket']},
]

_WORKLOAD_GROUP_SPEC = {
    'type': 'object',
    'required': ['template'],
    'properties': {
        'metadata': {'type': 'object', 'properties': {
            'labels': {'type': 'object', 'additionalProperties': {'type': 'string'}},
            'annotations': {'type': 'object', 'additionalProperties': {'type': 'string'}}}},
        'template': copy.deepcopy(_WORKLOAD_ENTRY_SPEC),
        'probe': {'type': 'object', 'oneOf': _AT_MOST_ONE_HANDLER, 'properties': {
            'periodSeconds': {'type': 'integer'},
            'tcpSocket': {'type': 'object', 'properties': {'port': {'x-kubernetes-int-or-string': True}}},
            'httpGet': {'type': 'object', 'required': ['port'], 'properties': {
                'path': {'type': 'string'},
                'port': {'x-kubernetes-int-or-string': True},
                'scheme': {'type': 'string', 'enum': ['HTTP', 'HTTPS']}}}}},
    },
}
# The template's address is optional in a WorkloadGroup (each VM fills in its own).
del _WORKLOAD_GROUP_SPEC['properties']['template']['required']


def _crd(kind, plural, spec_schema, short_names=()):
    schema = {'openAPIV3Schema': {'type': 'object', 'properties': {'spec': spec_schema, 'status': _STATUS}}}
    return {
        'apiVersion': 'apiextensions.k8s.io/v1', 'kind': 'CustomResourceDefinition',
        'metadata': {'name': '%s.networking.istio.io' % plural, 'labels': {'app': 'istio-pilot'}},
        'spec': {
            'group': 'networking.istio.io', 'scope': 'Namespaced',
            'names': {'kind': kind, 'listKind': kind + 'List', 'plural': plural, 'singular': kind.lower(),
                      'shortNames': list(short_names), 'categories': ['istio-io', 'networking-istio-io']},
            'versions': [
                {'name': 'v1', 'served': True, 'storage': True, 'schema': schema, 'subresources': {'status': {}}},
                {'name': 'v1beta1', 'served': True, 'storage': False, 'schema': copy.deepcopy(schema),
                 'subresources': {'status': {}}},
            ],
        },
    }


WORKLOAD_GROUP_CRD = _crd('WorkloadGroup', 'workloadgroups', _WORKLOAD_GROUP_SPEC, ['wg'])
WORKLOAD_ENTRY_CRD = _crd('WorkloadEntry', 'workloadentries', _WORKLOAD_ENTRY_SPEC, ['we'])
