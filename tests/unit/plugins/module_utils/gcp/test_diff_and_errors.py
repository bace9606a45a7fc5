"""Field comparison and the formatting of Google's error bodies."""

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.diff import ansible_diff, changed_fields
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import GcpApiError


def test_only_desired_fields_count():
    desired = {'a': 1, 'b': [1, 2], 'c': {'x': 'y'}}
    current = {'a': 1, 'b': [1, 3], 'c': {'x': 'y'}, 'unmanaged': 'whatever'}
    assert changed_fields(desired, current) == ['b']
    assert changed_fields({'a': 1}, {}) == ['a']
    assert ansible_diff(None, desired) == {'before': {}, 'after': desired}


def test_google_error_json_is_readable():
    body = ('{"error": {"code": 400, "message": "Invalid value for field \'resource.name\': \'Bad\'.", '
            '"status": "INVALID_ARGUMENT", "errors": [{"reason": "invalid", "message": "x", "domain": "global"}]}}')
    error = GcpApiError('POST', 'https://compute.googleapis.com/x', 400, body)
    assert str(error) == ("GCP API error 400 INVALID_ARGUMENT on POST https://compute.googleapis.com/x: "
                          "Invalid value for field 'resource.name': 'Bad'. (reason: invalid)")


def test_oauth_error_shape_is_shown_as_text():
    error = GcpApiError('POST', 'https://oauth2.googleapis.com/token', 400,
                        '{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}')
    assert 'invalid_grant' in str(error) and 'Invalid JWT Signature.' in str(error)
