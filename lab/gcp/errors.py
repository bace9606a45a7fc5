"""Google's error responses: ``{"error": {"code", "message", "status", "errors": [{"reason", "domain", "message"}]}}``."""

_STATUS_BY_CODE = {
    400: 'INVALID_ARGUMENT',
    401: 'UNAUTHENTICATED',
    403: 'PERMISSION_DENIED',
    404: 'NOT_FOUND',
    409: 'ALREADY_EXISTS',
    412: 'FAILED_PRECONDITION',
    429: 'RESOURCE_EXHAUSTED',
    500: 'INTERNAL',
    501: 'UNIMPLEMENTED',
    503: 'UNAVAILABLE',
}

_REASON_BY_CODE = {
    400: 'badRequest',
    401: 'authError',
    403: 'forbidden',
    404: 'notFound',
    409: 'alreadyExists',
    412: 'conditionNotMet',
    429: 'rateLimitExceeded',
    500: 'backendError',
    501: 'notImplemented',
    503: 'backendError',
}


class ApiError(Exception):
    """An error the API answers with; ``body()`` is the JSON Google sends."""

    def __init__(self, code, message, reason=None, status=None, headers=None, detail_message=None, **extra):
        super().__init__(message)
        self.detail_message = detail_message or message
        self.code = code
        self.message = message
        self.reason = reason or _REASON_BY_CODE.get(code, 'unknown')
        self.status = status or _STATUS_BY_CODE.get(code, 'UNKNOWN')
        self.headers = headers or {}
        self.extra = extra

    def body(self):
        detail = {'message': self.detail_message, 'domain': 'global', 'reason': self.reason}
        detail.update(self.extra)
        return {'error': {'code': self.code, 'message': self.message, 'errors': [detail], 'status': self.status}}


def invalid(message, reason='invalid', **extra):
    return ApiError(400, message, reason=reason, **extra)


def not_found(resource_path):
    return ApiError(404, "The resource '%s' was not found" % resource_path)


def already_exists(resource_path):
    return ApiError(409, "The resource '%s' already exists" % resource_path)
