"""Service account keys, user credentials, the OAuth2 token and tokeninfo endpoints and bearer-token checks, as
Google does them.

A lab key file has the layout of a real one (RSA key, ``private_key_id``, ``client_email``, ``token_uri``), so
google-auth's ``service_account.Credentials`` and ``gcloud auth activate-service-account`` use it unchanged. The
token endpoint takes the JWT-bearer grant, verifies the assertion's RS256 signature against the key's public half,
its issuer, audience and lifetime, and issues opaque access tokens that the APIs then require.

User credentials are what ``gcloud auth application-default login`` leaves in
``~/.config/gcloud/application_default_credentials.json`` (or ``$CLOUDSDK_CONFIG/...``): an ``authorized_user``
file with ``client_id``, ``client_secret`` and ``refresh_token``
(https://cloud.google.com/docs/authentication/application-default-credentials#personal; google-auth's
``google.oauth2.credentials.Credentials.from_authorized_user_info`` requires those three). The token endpoint takes
their ``refresh_token`` grant (https://developers.google.com/identity/protocols/oauth2/native-app#offline: client id
and secret in the form, or as HTTP Basic credentials as RFC 6749 section 2.3.1 allows) and issues a token for the
scopes the user granted at login, or for the ``scope`` the request names, which must be among them (RFC 6749
section 6; Google answers ``invalid_scope`` "Some requested scopes were invalid. {invalid=[...]}" otherwise, as
googleapis/google-auth-library-python#999 shows).

The tokeninfo endpoint (``https://oauth2.googleapis.com/tokeninfo?access_token=...``,
https://cloud.google.com/docs/authentication/token-types#access-contents) describes a live access token: ``azp``,
``aud``, ``sub``, ``scope``, ``exp``, ``expires_in``, and ``email`` with ``email_verified`` only when the token has
the email scope (oauth2 v2's Tokeninfo schema: "Present only if the email scope is present in the request").
Numbers come as strings, as Google sends them. An unknown or expired token is HTTP 400 ``invalid_token``
"Invalid Value".

Simplified: no ID tokens (``openid`` grants no ``id_token`` here), no reauth (``rapt``), no refresh token
rotation or expiry; a user's access is "the projects given when their credentials were made".
"""

import base64
import binascii
import json
import os
import secrets
import threading
import time
import urllib.parse

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
_REFRESH_TOKEN = 'refresh_token'
_EMAIL_SCOPES = frozenset(['https://www.googleapis.com/auth/userinfo.email', 'email'])
# What `gcloud auth application-default login` asks for unless told otherwise (gcloud's DEFAULT_SCOPES for ADC).
GCLOUD_ADC_SCOPES = ('openid', 'https://www.googleapis.com/auth/userinfo.email',
                     'https://www.googleapis.com/auth/cloud-platform',
                     'https://www.googleapis.com/auth/sqlservice.login')
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
    """An OAuth2 error: ``{"error": ..., "error_description": ...}``, with HTTP 400 unless ``status`` says (401 for
    a client that fails to authenticate, RFC 6749 section 5.2)."""

    def __init__(self, error, description, status=400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def body(self):
        return {'error': self.error, 'error_description': self.description}


def _b64url_decode(part):
    return base64.urlsafe_b64decode(part + '=' * (-len(part) % 4))


def _write_private(path, document):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as handle:
        json.dump(document, handle, indent=2)


def _client_credentials(form, authorization):
    """(client_id, client_secret) from HTTP Basic credentials, else from the form (RFC 6749 section 2.3.1)."""
    scheme, _sep, value = (authorization or '').partition(' ')
    if scheme.lower() == 'basic':
        try:
            client_id, _colon, client_secret = base64.b64decode(value.strip()).decode().partition(':')
        except (ValueError, binascii.Error):
            raise TokenError('invalid_client', 'The OAuth client was not found.', status=401) from None
        return urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(client_secret)
    return form.get('client_id', ''), form.get('client_secret', '')


class TokenAuthority:
    """The service accounts of the lab's projects and the access tokens issued to them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._keys = {}        # private_key_id -> (client_email, public key)
        self._tokens = {}      # access token -> (email, scopes, expiry)
        self._refresh = {}     # refresh token -> (client_id, client_secret, user email, granted scopes)
        self._ids = {}         # email -> (numeric unique id, OAuth client id the account's tokens are issued to)
        self._users = set()
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
        _write_private(path, document)
        with self._lock:
            self._keys[key_id] = (email, key.public_key())
            # A service account's tokens name its unique id as client, audience and subject.
            self._ids[email] = (document['client_id'], document['client_id'])
            self.projects.add(project)
        return email

    def create_user_credentials(self, path, email, project, scopes=GCLOUD_ADC_SCOPES):
        """Write the authorized_user file ``gcloud auth application-default login`` leaves for user ``email`` who
        granted ``scopes`` (mode 0600); the user may use ``project``. Returns ``email``."""
        client_id = '%d-lab.apps.googleusercontent.com' % secrets.randbelow(10 ** 12)
        document = {
            'account': '',
            'client_id': client_id,
            'client_secret': 'GOCSPX-' + secrets.token_urlsafe(21),
            'quota_project_id': project,
            'refresh_token': '1//lab-' + secrets.token_urlsafe(48),
            'type': 'authorized_user',
            'universe_domain': 'googleapis.com',
        }
        _write_private(path, document)
        with self._lock:
            self._refresh[document['refresh_token']] = (client_id, document['client_secret'], email, frozenset(scopes))
            self._ids[email] = (str(10 ** 20 + secrets.randbelow(10 ** 20)), client_id)
            self._users.add(email)
            self.projects.add(project)
        return email

    def revoke_user_credentials(self, email):
        """Revoke every refresh token of ``email`` (as removing the app's access in the Google Account does)."""
        with self._lock:
            self._refresh = {token: grant for token, grant in self._refresh.items() if grant[2] != email}

    def exchange(self, form, authorization=None):
        """The token endpoint: ``form`` is the decoded POST body, ``authorization`` the request's Authorization
        header (HTTP Basic client credentials, or None); returns the JSON answer or raises TokenError."""
        grant_type = form.get('grant_type', '')
        if grant_type == _REFRESH_TOKEN:
            return self._refresh_grant(form, authorization)
        if grant_type != _JWT_BEARER:
            raise TokenError('unsupported_grant_type', 'Invalid grant_type: %s' % grant_type)
        claims = self._verified_claims(form.get('assertion', ''))
        scopes = claims.get('scope', '').split()
        if not scopes:
            raise TokenError('invalid_scope', 'Invalid OAuth scope or ID token audience provided.')
        token = self._issue(claims['iss'], scopes)
        return {'access_token': token, 'expires_in': _TOKEN_LIFETIME - 1, 'token_type': 'Bearer'}

    def _issue(self, email, scopes):
        token = LAB_TOKEN_PREFIX + secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = (email, frozenset(scopes), time.time() + _TOKEN_LIFETIME)
        return token

    def _refresh_grant(self, form, authorization):
        client_id, client_secret = _client_credentials(form, authorization)
        with self._lock:
            grant = self._refresh.get(form.get('refresh_token', ''))
            clients = {entry[0] for entry in self._refresh.values()} | {entry[1] for entry in self._ids.values()}
        if client_id not in clients:
            raise TokenError('invalid_client', 'The OAuth client was not found.', status=401)
        if grant is None:
            raise TokenError('invalid_grant', 'Token has been expired or revoked.')
        if grant[0] != client_id or grant[1] != client_secret:
            raise TokenError('invalid_client', 'Unauthorized', status=401)
        granted = grant[3]
        requested = form.get('scope', '').split()
        invalid = sorted(set(requested) - granted)
        if invalid:
            raise TokenError('invalid_scope', 'Some requested scopes were invalid. {invalid=[%s]}' % ', '.join(invalid))
        scopes = frozenset(requested) or granted
        token = self._issue(grant[2], scopes)
        return {'access_token': token, 'expires_in': _TOKEN_LIFETIME - 1, 'scope': ' '.join(sorted(scopes)),
                'token_type': 'Bearer'}

    def tokeninfo(self, access_token):
        """The tokeninfo endpoint for ``access_token``: its description, or TokenError ``invalid_token``."""
        with self._lock:
            issued = self._tokens.get(access_token or '')
            if issued is not None:
                email, scopes, expiry = issued
                subject, client = self._ids.get(email, (email, email))
                is_user = email in self._users
        if issued is None or expiry <= time.time():
            raise TokenError('invalid_token', 'Invalid Value')
        info = {'azp': client, 'aud': client, 'sub': subject, 'scope': ' '.join(sorted(scopes)),
                'exp': str(int(expiry)), 'expires_in': str(max(0, int(expiry - time.time())))}
        if scopes & _EMAIL_SCOPES:
            info.update(email=email, email_verified='true')
        if is_user:
            info['access_type'] = 'offline'
        return info

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
        """The emails of the lab's accounts: its service accounts and its users."""
        with self._lock:
            return {email for email, _key in self._keys.values()} | set(self._users)

    def check_project(self, project, permission):
        """Only the projects that have lab service accounts exist; elsewhere the caller has no permission."""
        if project not in self.projects:
            raise ApiError(403, "Permission '%s' denied on resource 'projects/%s' (or it may not exist)." % (permission, project),
                           reason='forbidden')

    def expire_tokens(self):
        """Make every issued token stale, as an hour passing would (for tests of token refresh)."""
        with self._lock:
            self._tokens = {token: (email, scopes, 0) for token, (email, scopes, _e) in self._tokens.items()}
