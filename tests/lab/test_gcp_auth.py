"""The token endpoint and bearer checks: google-auth's service account flow works unchanged; forgeries are refused."""

import json
import os
import time

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account

from tests.lab.gcp_lab import PROJECT

TOKEN_URI = 'https://oauth2.googleapis.com/token'
ZONE_URL = 'https://compute.googleapis.com/compute/v1/projects/%s/zones/us-west2-a' % PROJECT


def _assertion(key_file, **overrides):
    with open(key_file, encoding='utf-8') as handle:
        info = json.load(handle)
    now = int(time.time())
    claims = {'iss': info['client_email'], 'scope': 'https://www.googleapis.com/auth/cloud-platform', 'aud': TOKEN_URI,
              'iat': now, 'exp': now + 3600}
    claims.update(overrides.pop('claims', {}))
    private_key = overrides.pop('private_key', info['private_key'])
    signer = crypt.RSASigner.from_string(private_key, info['private_key_id'])
    return jwt.encode(signer, claims).decode()


def _exchange(assertion, grant_type='urn:ietf:params:oauth:grant-type:jwt-bearer'):
    return requests.post(TOKEN_URI, data={'grant_type': grant_type, 'assertion': assertion}, timeout=10)


def test_google_auth_service_account_gets_a_token_the_api_accepts(session, gcp):
    response = session.get(ZONE_URL)
    assert response.status_code == 200, response.text
    assert response.json()['name'] == 'us-west2-a'
    assert session.credentials.token.startswith('ya29.')


def test_request_without_token_is_401_in_googles_shape(gcp, lab_env):
    response = requests.get(ZONE_URL, timeout=10)
    assert response.status_code == 401
    error = response.json()['error']
    assert error['status'] == 'UNAUTHENTICATED'
    assert error['errors'][0]['reason'] == 'required'
    assert error['message'].startswith('Request is missing required authentication credential')
    assert response.headers['WWW-Authenticate'].startswith('Bearer')


def test_unknown_token_is_401(gcp, lab_env):
    response = requests.get(ZONE_URL, headers={'Authorization': 'Bearer ya29.made-up'}, timeout=10)
    assert response.status_code == 401
    assert response.json()['error']['errors'][0]['reason'] == 'authError'


def test_expired_token_is_refused_and_google_auth_refreshes(session, gcp):
    assert session.get(ZONE_URL).status_code == 200
    first = session.credentials.token
    gcp.authority.expire_tokens()
    assert requests.get(ZONE_URL, headers={'Authorization': 'Bearer ' + first}, timeout=10).status_code == 401
    # AuthorizedSession refreshes on 401 and retries, as against Google.
    assert session.get(ZONE_URL).status_code == 200
    assert session.credentials.token != first


def test_token_scope_must_cover_the_method(key_file, lab_env, gcp):
    credentials = service_account.Credentials.from_service_account_file(
        key_file, scopes=['https://www.googleapis.com/auth/devstorage.read_only'])
    response = AuthorizedSession(credentials).get(ZONE_URL)
    assert response.status_code == 403
    assert response.json()['error']['message'] == 'Request had insufficient authentication scopes.'


def test_other_projects_are_forbidden(session, gcp):
    response = session.get('https://compute.googleapis.com/compute/v1/projects/someone-else/global/firewalls')
    assert response.status_code == 403
    assert response.json()['error']['status'] == 'PERMISSION_DENIED'


def test_assertion_signed_by_another_key_is_refused(key_file, gcp, lab_env):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    response = _exchange(_assertion(key_file, private_key=stranger))
    assert response.status_code == 400
    assert response.json() == {'error': 'invalid_grant', 'error_description': 'Invalid JWT Signature.'}


@pytest.mark.parametrize('claims, description', [
    ({'aud': 'https://example.com/token'}, 'Failed audience check'),
    ({'iat': int(time.time()) - 7200, 'exp': int(time.time()) - 3600}, 'short-lived token'),
    ({'exp': int(time.time()) + 7200}, 'short-lived token'),
    ({'iss': 'intruder@%s.iam.gserviceaccount.com' % PROJECT}, 'account not found'),
])
def test_assertion_claims_are_checked(key_file, gcp, lab_env, claims, description):
    response = _exchange(_assertion(key_file, claims=claims))
    assert response.status_code == 400
    assert response.json()['error'] == 'invalid_grant'
    assert description in response.json()['error_description']


def test_other_grant_types_are_refused(key_file, gcp, lab_env):
    response = _exchange(_assertion(key_file), grant_type='client_credentials')
    assert response.status_code == 400
    assert response.json()['error'] == 'unsupported_grant_type'


def test_key_file_is_private_and_shaped_like_googles(key_file):
    with open(key_file, encoding='utf-8') as handle:
        info = json.load(handle)
    assert set(info) >= {'type', 'project_id', 'private_key_id', 'private_key', 'client_email', 'token_uri'}
    assert info['type'] == 'service_account' and info['token_uri'] == TOKEN_URI
    assert os.stat(key_file).st_mode & 0o777 == 0o600
