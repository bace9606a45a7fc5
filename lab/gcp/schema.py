"""A generic walker over discovery-document schemas: the checks Google's front end makes on JSON messages.

Proto3 JSON rules as Google's servers apply them: unknown fields are refused; ``null`` means "unset"; 64-bit
integers travel as strings (numbers are accepted too); 32-bit integers accept numbers or numeric strings; enum
values must be one of the listed names. On top of that, two rules the discovery documents carry for compute:
``pattern`` on a field (resource names) and ``annotations.required`` naming the methods that need a field.
"""

import base64
import binascii
import re

from lab.gcp.errors import ApiError, invalid

_INT_RANGES = {
    'int32': (-2 ** 31, 2 ** 31 - 1),
    'uint32': (0, 2 ** 32 - 1),
    'int64': (-2 ** 63, 2 ** 63 - 1),
    'uint64': (0, 2 ** 64 - 1),
}


class ResponseSchemaError(Exception):
    """A response the stand-in built does not match the published schema: a bug in the stand-in."""


def _proto_type(schema):
    if 'enum' in schema:
        return 'TYPE_ENUM'
    fmt = schema.get('format')
    if fmt in _INT_RANGES or fmt in ('double', 'float'):
        return 'TYPE_%s' % fmt.upper()
    return {'byte': 'TYPE_BYTES', 'boolean': 'TYPE_BOOLEAN', 'integer': 'TYPE_INT32', 'number': 'TYPE_DOUBLE'}.get(fmt or schema.get('type'), 'TYPE_STRING')


class SchemaWalker:
    """Checks JSON values against the ``schemas`` of one discovery document."""

    def __init__(self, schemas):
        self.schemas = schemas

    def resolve(self, schema):
        while '$ref' in schema:
            schema = self.schemas[schema['$ref']]
        return schema

    def check_request(self, value, schema, root, method_id):
        """Raise ``ApiError`` (400) where ``value`` is not a valid request message for ``method_id``."""
        self._walk(value, schema, root, method_id, request=True)

    def check_response(self, value, schema, root='response'):
        """Raise ``ResponseSchemaError`` where ``value`` is not a valid response message."""
        try:
            self._walk(value, schema, root, None, request=False)
        except ApiError as error:
            raise ResponseSchemaError(error.message) from None

    def _walk(self, value, schema, path, method_id, request):
        schema = self.resolve(schema)
        if value is None:
            return
        kind = schema.get('type', 'object')
        if kind == 'any':
            return
        if kind == 'object':
            self._walk_object(value, schema, path, method_id, request)
        elif kind == 'array':
            if not isinstance(value, list):
                raise invalid('Invalid value at \'%s\' (repeated), %s: expected a list' % (path, _show(value)),
                              reason='badRequest')
            for index, item in enumerate(value):
                self._walk(item, schema.get('items', {}), '%s[%d]' % (path, index), method_id, request)
        else:
            self._walk_scalar(value, schema, kind, path, request)

    def _walk_object(self, value, schema, path, method_id, request):
        if not isinstance(value, dict):
            raise invalid('Invalid value at \'%s\' (type.googleapis.com/%s), %s: expected an object'
                          % (path, schema.get('id', 'message'), _show(value)))
        if 'additionalProperties' in schema:
            for key, item in value.items():
                self._walk(item, schema['additionalProperties'], '%s[%s]' % (path, key), method_id, request)
            return
        properties = schema.get('properties', {})
        for key, item in value.items():
            if key not in properties:
                where = " at '%s'" % path if path else ''
                raise invalid('Invalid JSON payload received. Unknown name "%s"%s: Cannot find field.' % (key, where), reason='badRequest')
            self._walk(item, properties[key], _join(path, key), method_id, request)
        if request:
            for key, field in properties.items():
                if method_id in field.get('annotations', {}).get('required', ()) and value.get(key) in (None, '', [], {}):
                    raise invalid("Required field '%s' not specified" % _join(path, key), reason='required')

    def _walk_scalar(self, value, schema, kind, path, request):
        fmt = schema.get('format')
        if kind == 'boolean':
            ok = isinstance(value, bool)
        elif kind == 'integer' or (kind == 'string' and fmt in ('int64', 'uint64')):
            ok = _integer_in_range(value, fmt or 'int32')
        elif kind == 'number':
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) or value in ('NaN', 'Infinity', '-Infinity')
        elif kind == 'string':
            ok = isinstance(value, str) and (fmt != 'byte' or _is_base64(value))
        else:
            ok = False
        if not ok:
            raise invalid('Invalid value at \'%s\' (%s), %s' % (path, _proto_type(schema), _show(value)), reason='badRequest')
        if 'enum' in schema and value not in schema['enum']:
            raise invalid('Invalid value at \'%s\' (%s), %s' % (path, _proto_type(schema), _show(value)), reason='badRequest')
        if request and 'pattern' in schema and not re.fullmatch(schema['pattern'], value):
            raise invalid("Invalid value for field '%s': '%s'. Must be a match of regex '(?:%s)'" % (path, value, schema['pattern']))


def _join(path, key):
    return '%s.%s' % (path, key) if path else key


def _integer_in_range(value, fmt):
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        if not re.fullmatch(r'-?[0-9]+', value):
            return False
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        return False
    low, high = _INT_RANGES.get(fmt, _INT_RANGES['int64'])
    return low <= value <= high


def _is_base64(value):
    try:
        base64.b64decode(value.replace('-', '+').replace('_', '/') + '=' * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _show(value):
    return '"%s"' % value if isinstance(value, str) else repr(value)
