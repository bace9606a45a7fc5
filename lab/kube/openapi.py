"""Just enough OpenAPI for kubectl.

kubectl downloads ``/openapi/v2`` (protobuf) for client-side validation and ``/openapi/v3`` to learn whether the
server takes ``fieldValidation``; with that it leaves validation to the server (this one validates against the
published schemas, see validation.py). The v2 document served is empty (a zero-length protobuf message is a valid
empty ``Document``), so kubectl falls back to its compiled-in types for strategic merge patches, as it does with
any server whose OpenAPI lacks a kind. Not reproduced: the schemas themselves (``kubectl explain`` has nothing).
"""

import hashlib
import json

OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf'


def _gv_path(group, version):
    return 'apis/%s/%s' % (group, version) if group else 'api/%s' % version


def v3_root(registry):
    paths = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            path = _gv_path(group, version)
            digest = hashlib.sha256(json.dumps(v3_group_version(registry, path)).encode()).hexdigest()[:16].upper()
            paths[path] = {'serverRelativeURL': '/openapi/v3/%s?hash=%s' % (path, digest)}
    return {'paths': paths}


def v3_group_version(registry, path):
    """The PATCH operations of a group/version, each declaring the ``fieldValidation`` query parameter; None if
    nothing is served there."""
    operations = {}
    for rtype in registry.types():
        for version in rtype.versions:
            if _gv_path(rtype.group, version) != path:
                continue
            scope = '/namespaces/{namespace}' if rtype.namespaced else ''
            operations['/%s%s/%s/{name}' % (path, scope, rtype.plural)] = {'patch': {
                'operationId': 'patch' + rtype.kind,
                'x-kubernetes-action': 'patch',
                'x-kubernetes-group-version-kind': {'group': rtype.group, 'version': version, 'kind': rtype.kind},
                'parameters': [{'name': name, 'in': 'query', 'schema': {'type': 'string', 'uniqueItems': True}}
                               for name in ('dryRun', 'fieldManager', 'fieldValidation', 'force')],
            }}
    if not operations:
        return None
    return {'openapi': '3.0.0', 'info': {'title': 'Kubernetes', 'version': 'v1.33.0'}, 'paths': operations,
            'components': {}}
