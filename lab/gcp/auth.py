"""Service account keys, the OAuth2 token endpoint and bearer-token checks, as Google does them.

A lab key file has the layout of a real one (RSA key, ``private_key_id``, ``client_email``, ``token_uri``), so
google-auth's ``service_account.Credentials`` and ``gcloud auth activate-service-account`` use it unchanged. The
token endpoint takes the JWT-bearer grant, verifies the assertion's RS256 signature against the key's public half,
its issuer, audience and lifetime, and issues opaque access tokens that the APIs then require.
"""

import base64
import binascii
import json
import os
import secrets
import threading
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from lab.gcp.errors import ApiError

TOKEN_URI = 'https://oauth2.googleapis.com/token'
# Google's access tokens start with ya29.; the lab's say they are the lab's.
LAB_TOKEN_PREFIX = 'ya29.lab-'
# Google accepts its older token URLs as the assertion's audience too.
_AUDIENCES = (TOKEN_URI, 'https://www.googleapis.com/oauth2/v4/token', 'https://accounts.google.com/o/oauth2/token')
_JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
_TOKEN_LIFETIME = 3600
_CLOCK_SKEW = 300
_CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform'

_MISSING = ('Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other '
            'valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.')
_INVALID = ('Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid '
            'authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.')
_LIFETIME = ('Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. '
             'Check your iat and exp values in the JWT claim.')


class TokenError(Exception):
    """An OAuth2 error: ``{"error": ..., "error_description": ...}`` with HTTP 400."""

    def __init__(self, error, description):
        super().__init__(description)
        self.error = error
        self.description = description

    def body(self):
        return {'error': self.error, 'error_description': self.description}


def _b64url_decode(part):
    return base64.urlsafe_b64decode(part + '=' * (-len(part) % 4))


class TokenAuthority:
    """The service accounts of the lab's projects and the access tokens issued to them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._keys = {}        # private_key_id -> (client_email, public key)
        self._tokens = {}      # access token -> (client_email, scopes, expiry)
        self.projects = set()

    def create_key_file(self, path, project, account='meshbridge-lab'):
        """Write a service account key file for ``account@project`` (mode 0600); return the account's email."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_id = secrets.token_hex(20)
        email = '%s@%s.iam.gserviceaccount.com' % (account, project)
        document = {
            'type': 'service_account',
            'project_id': project,
            'private_key_id': key_id,
            'private_key': key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()).decode(),
            'client_email': email,
            'client_id': str(secrets.randbelow(10 ** 21)),
            'auth_uri': 'https://accounts.google.com/o/oauth2/auth',
            'token_uri': TOKEN_URI,
            'auth_provider_x509_cert_url': 'https://www.googleapis.com/oauth2/v1/certs',
            'client_x509_cert_url': 'https://www.googleapis.com/robot/v1/metadata/x509/' + email.replace('@', '%40'),
            'universe_domain': 'googleapis.com',
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as handle:
            json.dump(document, handle, indent=2)
        with self._lock:
            self._keys[key_id] = (email, key.public_key())
            self.projects.add(project)
        return email

    def exchange(self, form):
        """The token endpoint: ``form`` is the decoded POST body; returns the JSON answer or raises TokenError."""
        grant_type = form.get('grant_type', '')
        if grant_type != _JWT_BEARER:
            raise TokenError('unsupported_grant_type', 'Invalid grant_type: %s' % grant_type)
        claims = self._verified_claims(form.get('assertion', ''))
        scopes = claims.get('scope', '').split()
        if not scopes:
            raise TokenError('invalid_scope', 'Invalid OAuth scope or ID token audience provided.')
        token = LAB_TOKEN_PREFIX + secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = (claims['iss'], frozenset(scopes), time.time() + _TOKEN_LIFETIME)
        return {'access_token': token, 'expires_in': _TOKEN_LIFETIME - 1, 'token_type': 'Bearer'}

    def _verified_claims(self, assertion):
        parts = assertion.split('.')
        if len(parts) != 3:
            raise TokenError('invalid_grant', 'Invalid JWT: not a compact JWS.')
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except (ValueError, binascii.Error):
            raise TokenError('invalid_grant', 'Invalid JWT: cannot decode header or claims.') from None
        if header.get('alg') != 'RS256':
            raise TokenError('invalid_grant', 'Invalid JWT Signature.')
        with self._lock:
            account = self._keys.get(header.get('kid'))
        if account is None:
            raise TokenError('invalid_grant', 'Invalid JWT Signature.')
        email, public_key = account
        try:
            public_key.verify(signature, ('%s.%s' % (parts[0], parts[1])).encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise TokenError('invalid_grant', 'Invalid JWT Signature.') from None
        if claims.get('iss') != email:
            raise TokenError('invalid_grant', 'Invalid grant: account not found')
        if claims.get('aud') not in _AUDIENCES:
            raise TokenError('invalid_grant', 'Invalid JWT: Failed audience check. The right audience is %s' % TOKEN_URI)
        now = time.time()
        issued, expires = claims.get('iat'), claims.get('exp')
        if not isinstance(issued, (int, float)) or not isinstance(expires, (int, float)) \
                or expires <= now or issued > now + _CLOCK_SKEW or expires - issued > _TOKEN_LIFETIME:
            raise TokenError('invalid_grant', _LIFETIME)
        return claims

    def authorize(self, authorization, method_scopes):
        """Check an ``Authorization`` header for a method; returns the caller's email or raises ApiError."""
        if not authorization:
            raise ApiError(401, _MISSING, reason='required', detail_message='Login Required.', location='Authorization',
                           locationType='header', headers={'WWW-Authenticate': 'Bearer realm="https://accounts.google.com/"'})
        scheme, _sep, token = authorization.partition(' ')
        with self._lock:
            issued = self._tokens.get(token.strip()) if scheme.lower() == 'bearer' else None
        if issued is None or issued[2] <= time.time():
            raise ApiError(401, _INVALID, reason='authError', detail_message='Invalid Credentials', location='Authorization',
                           locationType='header', headers={'WWW-Authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"'})
        email, scopes, _expiry = issued
        if method_scopes and not (scopes & set(method_scopes)) and _CLOUD_PLATFORM not in scopes:
            raise ApiError(403, 'Request had insufficient authentication scopes.', reason='insufficientPermissions',
                           detail_message='Insufficient Permission')
        return email

    def identify(self, token):
        """The email of the account a live access token was issued to, or None (for other stand-ins that accept
        Google access tokens, as GKE's API server does)."""
        with self._lock:
            issued = self._tokens.get(token)
        if issued is None or issued[2] <= time.time():
            return None
        return issued[0]

    def accounts(self):
        """The emails of the lab's service accounts."""
        with self._lock:
            return {email for email, _key in self._keys.values()}

    def check_project(self, project, permission):
        """Only the projects that have lab service accounts exist; elsewhere the caller has no permission."""
        if project not in self.projects:
            raise ApiError(403, "Permission '%s' denied on resource 'projects/%s' (or it may not exist)." % (permission, project),
                           reason='forbidden')

    def expire_tokens(self):
        """Make every issued token stale, as an hour passing would (for tests of token refresh)."""
        with self._lock:
            self._tokens = {token: (email, scopes, 0) for token, (email, scopes, _e) in self._tokens.items()}
