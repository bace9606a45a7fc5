"""CustomResourceDefinitions: what the server checks when one is created, the resource type it then serves, and
how custom resources are held to the CRD's structural openAPIV3Schema.

As the real server does for structural schemas: unknown fields are pruned (warned about, or refused with
``fieldValidation=Strict``) except under ``x-kubernetes-preserve-unknown-fields``, nulls in non-nullable fields are
dropped, and types, ``required``, ``enum``, bounds, ``pattern`` and ``oneOf``/``anyOf``/``allOf``/``not`` are
checked, failures being 422 Invalid with one cause per field. Not reproduced: CEL rules
(``x-kubernetes-validations``), defaults from the schema, ``format`` checks, conversion webhooks.
"""

import re

from lab.kube import errors, resources
from lab.kube.validation import field_path

_TYPE_CHECKS = {
    'object': lambda v: isinstance(v, dict),
    'array': lambda v: isinstance(v, list),
    'string': lambda v: isinstance(v, str),
    'integer': lambda v: isinstance(v, int) and not isinstance(v, bool),
    'number': lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    'boolean': lambda v: isinstance(v, bool),
}


def _json_type_name(value):
    for name in ('boolean', 'integer', 'number', 'string', 'array', 'object'):
        if _TYPE_CHECKS[name](value):
            return name
    return 'null'


def _version_entries(crd):
    return crd.get('spec', {}).get('versions') or []


def check_definition(crd):
    """Refuse a CRD the real server would refuse (the checks that matter for a client getting it wrong)."""
    spec = crd.get('spec', {})
    names = spec.get('names', {})
    name = crd['metadata'].get('name', '')
    causes = []
    for field in ('group', 'scope'):
        if not spec.get(field):
            causes.append(errors.required('spec.' + field))
    for field in ('plural', 'kind'):
        if not names.get(field):
            causes.append(errors.required('spec.names.' + field))
    if spec.get('scope') and spec['scope'] not in ('Namespaced', 'Cluster'):
        causes.append(errors.Cause(errors.Cause.NOT_SUPPORTED, 'spec.scope', 'Unsupported value: "%s": supported '
                                   'values: "Cluster", "Namespaced"' % spec['scope']))
    expected = '%s.%s' % (names.get('plural', ''), spec.get('group', ''))
    if name != expected:
        causes.append(errors.invalid_value('metadata.name', name, 'must be spec.names.plural+"."+spec.group'))
    versions = _version_entries(crd)
    if not versions:
        causes.append(errors.required('spec.versions'))
    if versions and sum(1 for v in versions if v.get('storage')) != 1:
        causes.append(errors.invalid_value('spec.versions', 'array', 'must have exactly one version marked as storage version'))
    for index, version in enumerate(versions):
        if not version.get('schema', {}).get('openAPIV3Schema'):
            causes.append(errors.Cause(errors.Cause.REQUIRED, 'spec.versions[%d].schema.openAPIV3Schema' % index,
                                       'Required value: schemas are required'))
        elif version['schema']['openAPIV3Schema'].get('type') != 'object':
            causes.append(errors.Cause(errors.Cause.REQUIRED, 'spec.versions[%d].schema.openAPIV3Schema.type' % index,
                                       'Required value: must not be empty at the root'))
    if causes:
        raise errors.invalid('CustomResourceDefinition', 'apiextensions.k8s.io', name, causes)


def established_status(crd):
    names = dict(crd['spec']['names'])
    names.setdefault('singular', names['kind'].lower())
    names.setdefault('listKind', names['kind'] + 'List')
    storage = [v['name'] for v in _version_entries(crd) if v.get('storage')]
    conditions = [{'type': condition, 'status': 'True', 'reason': reason, 'message': message,
                   'lastTransitionTime': crd['metadata']['creationTimestamp']}
                  for condition, reason, message in (
                      ('NamesAccepted', 'NoConflicts', 'no conflicts found'),
                      ('Established', 'InitialNamesAccepted', 'the initial names have been accepted'))]
    return {'conditions': conditions, 'acceptedNames': names, 'storedVersions': storage}


def resource_type(crd):
    spec = crd['spec']
    names = spec['names']
    served = [v for v in _version_entries(crd) if v.get('served', True)]
    served.sort(key=lambda v: not v.get('storage'))
    subresources = ('status',) if any('status' in (v.get('subresources') or {}) for v in served) else ()
    return resources.ResourceType(
        spec['group'], [v['name'] for v in served], names['plural'], names['kind'], spec['scope'] == 'Namespaced',
        short_names=names.get('shortNames', ()), subresources=subresources, singular=names.get('singular'),
        categories=names.get('categories', ()), crd=crd)


def schema_for(crd, version):
    for entry in _version_entries(crd):
        if entry['name'] == version:
            return entry.get('schema', {}).get('openAPIV3Schema', {})
    return {}


class _Walk:
    """One validation pass: ``unknown`` field paths (to prune or refuse) and ``causes`` (422)."""

    def __init__(self, prune=True):
        self.prune = prune
        self.unknown = []
        self.causes = []

    def value(self, value, schema, path):
        if schema.get('x-kubernetes-int-or-string'):
            if not isinstance(value, (int, str)) or isinstance(value, bool):
                self._type_error(value, 'integer,string', path)
                return
        elif schema.get('type') and not _TYPE_CHECKS[schema['type']](value):
            self._type_error(value, schema['type'], path)
            return
        self._constraints(value, schema, path)
        if isinstance(value, dict) and (schema.get('type') == 'object' or 'properties' in schema):
            self._object(value, schema, path)
        if isinstance(value, dict):
            # Also in value-only subschemas: Istio's CRDs say "exactly one of" as oneOf over {required: [...]}.
            for key in schema.get('required', ()):
                if key not in value:
                    self.causes.append(errors.required(field_path(path + [key])))
        elif isinstance(value, list) and 'items' in schema:
            for index, item in enumerate(value):
                if item is None and not schema['items'].get('nullable'):
                    self._type_error(item, schema['items'].get('type', 'object'), path + [index])
                else:
                    self.value(item, schema['items'], path + [index])

    def _object(self, value, schema, path):
        props = schema.get('properties', {})
        additional = schema.get('additionalProperties')
        keeps_unknown = schema.get('x-kubernetes-preserve-unknown-fields') or additional is True
        for key in list(value):
            child = value[key]
            if not path and key in ('apiVersion', 'kind', 'metadata'):
                continue
            if schema.get('x-kubernetes-embedded-resource') and key in ('apiVersion', 'kind', 'metadata'):
                continue
            sub = props.get(key, additional if isinstance(additional, dict) else None)
            if sub is None:
                if not keeps_unknown:
                    self.unknown.append(path + [key])
                    if self.prune:
                        del value[key]
                continue
            if child is None and not sub.get('nullable'):
                if self.prune:
                    del value[key]  # the real server drops nulls in non-nullable fields before validating
                continue
            self.value(child, sub, path + [key])

    def _type_error(self, value, wanted, path):
        name = field_path(path)
        actual = _json_type_name(value)
        self.causes.append(errors.Cause(errors.Cause.INVALID, name, 'Invalid value: "%s": %s in body must be of type %s: "%s"'
                                        % (actual, name, wanted, actual)))

    def _constraints(self, value, schema, path):
        name = field_path(path)
        if 'enum' in schema and value not in schema['enum']:
            self.causes.append(errors.Cause(errors.Cause.NOT_SUPPORTED, name, 'Unsupported value: %s: supported values: %s'
                                            % (errors.go_repr(value), ', '.join(errors.go_repr(v) for v in schema['enum']))))
        checks = (
            ('maximum', lambda v, b: v <= b, 'should be less than or equal to %s'),
            ('minimum', lambda v, b: v >= b, 'should be greater than or equal to %s'),
            ('maxLength', lambda v, b: len(v) <= b, 'may not be more than %s bytes'),
            ('minLength', lambda v, b: len(v) >= b, 'should be at least %s chars long'),
            ('maxItems', lambda v, b: len(v) <= b, 'must have at most %s items'),
            ('minItems', lambda v, b: len(v) >= b, 'should have at least %s items'),
            ('maxProperties', lambda v, b: len(v) <= b, 'must have at most %s properties'),
            ('minProperties', lambda v, b: len(v) >= b, 'should have at least %s properties'),
        )
        for keyword, holds, message in checks:
            if keyword in schema:
                try:
                    ok = holds(value, schema[keyword])
                except TypeError:
                    ok = True
                if not ok:
                    self.causes.append(errors.invalid_value(name, value, message % schema[keyword]))
        if 'pattern' in schema and isinstance(value, str) and not re.search(schema['pattern'], value):
            self.causes.append(errors.invalid_value(name, value, 'should match \'%s\'' % schema['pattern']))
        self._combinators(value, schema, path)

    def _combinators(self, value, schema, path):
        def passes(sub):
            probe = _Walk(prune=False)
            probe.value(value, sub, path)
            return not probe.causes

        name = field_path(path)
        for sub in schema.get('allOf', ()):
            self._constraints(value, sub, path)
        if 'anyOf' in schema and not any(passes(sub) for sub in schema['anyOf']):
            self.causes.append(errors.invalid_value(name, value, 'must validate at least one schema (anyOf)'))
        if 'oneOf' in schema and sum(1 for sub in schema['oneOf'] if passes(sub)) != 1:
            self.causes.append(errors.invalid_value(name, value, 'must validate one and only one schema (oneOf)'))
        if 'not' in schema and passes(schema['not']):
            self.causes.append(errors.invalid_value(name, value, 'must not validate the schema (not)'))


def check_custom_resource(rtype, version, obj, field_validation):
    """Prune and validate a custom resource in place; returns warnings, raises 400/422 as the real server does."""
    walk = _Walk()
    walk.value(obj, schema_for(rtype.crd, version), [])
    if walk.unknown and field_validation == 'Strict':
        raise errors.bad_request('%s in version "%s" cannot be handled as a %s: strict decoding error: %s' % (
            rtype.kind, version, rtype.kind, ', '.join('unknown field "%s"' % field_path(p) for p in walk.unknown)))
    if walk.causes:
        raise errors.invalid(rtype.kind, rtype.group, obj['metadata'].get('name', ''), walk.causes)
    if field_validation == 'Ignore':
        return []
    return ['unknown field "%s"' % field_path(p) for p in walk.unknown]
