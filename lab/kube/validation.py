"""Built-in kinds checked against the published Kubernetes OpenAPI schemas (as JSON schemas, from the PyPI package
``kubernetes-validate``), refused the way the real server refuses them:

- a wrong type fails decoding: 400 BadRequest ``<Kind> in version "v1" cannot be handled as a <Kind>: ...``;
- an unknown field is dropped with a ``Warning`` header, or refused with 400 ``strict decoding error`` when the
  request says ``fieldValidation=Strict`` (kubectl does by default), or silently dropped with ``Ignore``;
- a missing required field or a value outside an enum: 422 Invalid with ``details.causes`` naming each field.
"""

import functools
import json
import os

import jsonschema
import kubernetes_validate
import referencing

from lab.kube import errors

# The Kubernetes minor version the lab's clusters run; /version reports it and schemas are taken from it.
KUBERNETES_MINOR = 33
_SCHEMA_DIR = os.path.join(os.path.dirname(kubernetes_validate.__file__), 'kubernetes-json-schema',
                           'v1.%d.0-local-strict' % KUBERNETES_MINOR)
_DEFINITIONS_URI = 'https://kubernetes.io/api/_definitions.json'


@functools.lru_cache(maxsize=1)
def _definitions():
    with open(os.path.join(_SCHEMA_DIR, '_definitions.json'), encoding='utf-8') as handle:
        return json.load(handle)


@functools.lru_cache(maxsize=1)
def _registry():
    return referencing.Registry().with_resource(_DEFINITIONS_URI, referencing.Resource.from_contents(_definitions()))


@functools.lru_cache(maxsize=None)
def _validator(group, version, kind):
    for name, definition in _definitions()['$defs'].items():
        for gvk in definition.get('x-kubernetes-group-version-kind', ()):
            if (gvk['group'], gvk['version'], gvk['kind']) == (group, version, kind):
                schema = {'$schema': 'https://json-schema.org/draft/2020-12/schema',
                          '$ref': '%s#/$defs/%s' % (_DEFINITIONS_URI, name)}
                return jsonschema.Draft202012Validator(schema, registry=_registry())
    raise KeyError((group, version, kind))


def field_path(parts):
    text = ''
    for part in parts:
        text += '[%d]' % part if isinstance(part, int) else ('.' if text else '') + str(part)
    return text


_GO_TYPES = {'integer': 'int64', 'string': 'string', 'boolean': 'bool', 'number': 'float64',
             'object': 'map[string]interface {}', 'array': '[]interface {}'}


def _json_type(value):
    if isinstance(value, bool):
        return 'bool'
    if isinstance(value, (int, float)):
        return 'number'
    return {dict: 'object', list: 'array', str: 'string'}.get(type(value), 'null')


def _unknown_fields(error):
    allowed = set(error.schema.get('properties', {}))
    return [list(error.absolute_path) + [name] for name in error.instance if name not in allowed]


def _expected_type(error):
    wanted = error.validator_value if error.validator == 'type' else 'int-or-string'
    if isinstance(wanted, list):
        wanted = [t for t in wanted if t != 'null'][0]
    return _GO_TYPES.get(wanted, wanted)


def _remove(obj, parts):
    node = obj
    for part in parts[:-1]:
        node = node[part]
    node.pop(parts[-1], None)


def check_builtin(rtype, version, obj, field_validation):
    """Validate a built-in kind in place; returns warnings. Unknown fields are removed unless refused."""
    validator = _validator(rtype.group, version, rtype.kind)
    unknown, decode_errors, causes = [], [], []
    for error in validator.iter_errors(obj):
        path = field_path(error.absolute_path)
        if error.validator == 'additionalProperties':
            unknown.extend(_unknown_fields(error))
        elif error.validator in ('type', 'oneOf'):
            decode_errors.append('json: cannot unmarshal %s into Go struct field %s of type %s'
                                 % (_json_type(error.instance), path or rtype.kind, _expected_type(error)))
        elif error.validator == 'required':
            present = error.instance if isinstance(error.instance, dict) else {}
            for name in error.validator_value:
                if name not in present:
                    causes.append(errors.required(field_path(list(error.absolute_path) + [name])))
        elif error.validator == 'enum':
            supported = ', '.join('"%s"' % v for v in error.validator_value if v is not None)
            causes.append(errors.Cause(errors.Cause.NOT_SUPPORTED, path, 'Unsupported value: %s: supported values: %s'
                                       % (errors.go_repr(error.instance), supported)))
        else:
            causes.append(errors.invalid_value(path, error.instance, error.message))
    prefix = '%s in version "%s" cannot be handled as a %s: ' % (rtype.kind, version, rtype.kind)
    if decode_errors:
        raise errors.bad_request(prefix + decode_errors[0])
    warnings = []
    if unknown:
        if field_validation == 'Strict':
            raise errors.bad_request(prefix + 'strict decoding error: '
                                     + ', '.join('unknown field "%s"' % field_path(parts) for parts in unknown))
        for parts in sorted(unknown, key=len, reverse=True):
            _remove(obj, parts)
        if field_validation != 'Ignore':
            warnings = ['unknown field "%s"' % field_path(parts) for parts in unknown]
    if causes:
        raise errors.invalid(rtype.kind, rtype.group, obj.get('metadata', {}).get('name', ''), causes)
    return warnings
