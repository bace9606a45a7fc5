"""API errors as the real server reports them: an HTTP status and a ``Status`` body (reason, message, details)."""


class ApiError(Exception):
    """A request the server refuses; ``status_body()`` is what goes on the wire."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status_body(self):
        body = {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
                'message': self.message, 'reason': self.reason, 'code': self.code}
        if self.details:
            body['details'] = self.details
        return body


def _details(rtype, name):
    details = {'kind': rtype.plural}
    if name:
        details['name'] = name
    if rtype.group:
        details['group'] = rtype.group
    return details


def not_found(rtype, name):
    return ApiError(404, 'NotFound', '%s "%s" not found' % (rtype.qualified_plural, name), _details(rtype, name))


def already_exists(rtype, name):
    return ApiError(409, 'AlreadyExists', '%s "%s" already exists' % (rtype.qualified_plural, name),
                    _details(rtype, name))


def conflict(rtype, name, why='the object has been modified; please apply your changes to the latest version and try again'):
    return ApiError(409, 'Conflict', 'Operation cannot be fulfilled on %s "%s": %s' % (rtype.qualified_plural, name, why),
                    _details(rtype, name))


class Cause:
    """One field error, as in ``details.causes`` of an Invalid status."""

    REQUIRED = 'FieldValueRequired'
    INVALID = 'FieldValueInvalid'
    NOT_SUPPORTED = 'FieldValueNotSupported'
    FORBIDDEN = 'FieldValueForbidden'
    DUPLICATE = 'FieldValueDuplicate'
    TYPE_INVALID = 'FieldValueTypeInvalid'

    def __init__(self, reason, field, message):
        self.reason = reason
        self.field = field
        self.message = message

    def as_dict(self):
        return {'reason': self.reason, 'message': self.message, 'field': self.field}

    def __str__(self):
        return '%s: %s' % (self.field, self.message)


def required(field):
    return Cause(Cause.REQUIRED, field, 'Required value')


def invalid_value(field, value, detail):
    return Cause(Cause.INVALID, field, 'Invalid value: %s: %s' % (go_repr(value), detail))


def go_repr(value):
    """Values in messages look like Go's %#v of the decoded JSON, as the real server prints them."""
    if isinstance(value, str):
        return '"%s"' % value
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if value is None:
        return 'null'
    if isinstance(value, (dict, list)):
        return '"%s"' % type(value).__name__.replace('dict', 'object').replace('list', 'array')
    return str(value)


def invalid(kind, group, name, causes):
    """422 Invalid: ``<Kind>.<group> "<name>" is invalid: <field>: <message>, ...``."""
    qualified = kind + ('.' + group if group else '')
    if len(causes) == 1:
        summary = str(causes[0])
    else:
        summary = '[%s]' % ', '.join(str(cause) for cause in causes)
    details = {'name': name, 'kind': kind, 'causes': [cause.as_dict() for cause in causes]}
    if group:
        details['group'] = group
    return ApiError(422, 'Invalid', '%s "%s" is invalid: %s' % (qualified, name, summary), details)


def bad_request(message):
    return ApiError(400, 'BadRequest', message)


def forbidden(message, rtype=None, name=None):
    return ApiError(403, 'Forbidden', message, _details(rtype, name) if rtype else None)


def unauthorized():
    return ApiError(401, 'Unauthorized', 'Unauthorized')


def method_not_allowed(message='the server does not allow this method on the requested resource'):
    return ApiError(405, 'MethodNotAllowed', message)


def unsupported_media_type(content_type):
    return ApiError(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format - accepted media '
                    'types include: application/json-patch+json, application/merge-patch+json, '
                    'application/apply-patch+yaml (got %s)' % content_type)


def page_not_found():
    return ApiError(404, 'NotFound', 'the server could not find the requested resource')


def expired(message):
    return ApiError(410, 'Expired', message)
