"""Service account tokens: the TokenRequest subresource's JWTs, signed with a key the server keeps, and the
OIDC discovery documents (``/.well-known/openid-configuration``, ``/openid/v1/jwks``) through which others
(the lab's istiod) verify them, as they would against a real cluster."""

import base64
import datetime
import hashlib
import os
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# The real server refuses shorter lifetimes and caps longer ones (--service-account-max-token-expiration).
MIN_EXPIRATION_SECONDS = 600
DEFAULT_EXPIRATION_SECONDS = 3600
MAX_EXPIRATION_SECONDS = 48 * 3600


def _b64url_uint(number):
    raw = number.to_bytes((number.bit_length() + 7) // 8, 'big')
    return base64.urlsafe_b64encode(raw).rstrip(b'=').decode()


class TokenIssuer:
    """Signs and verifies service account JWTs (RS256). The key lives in ``<state_dir>/sa-key.pem``."""

    def __init__(self, state_dir, issuer):
        self.issuer = issuer
        path = os.path.join(state_dir, 'sa-key.pem')
        if os.path.exists(path):
            with open(path, 'rb') as handle:
                self._key = serialization.load_pem_private_key(handle.read(), None)
        else:
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, 'wb') as handle:
                handle.write(self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
        public_der = self._key.public_key().public_bytes(serialization.Encoding.DER,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo)
        # Like the real server: the key id is the unpadded base64url SHA-256 of the DER public key.
        self.key_id = base64.urlsafe_b64encode(hashlib.sha256(public_der).digest()).rstrip(b'=').decode()

    @property
    def public_key_pem(self):
        return self._key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)

    def issue(self, service_account, audiences, expiration_seconds, bound_object=None):
        """A token for ``service_account`` (the stored object); returns (token, expiration datetime)."""
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        expires = now + datetime.timedelta(seconds=expiration_seconds)
        meta = service_account['metadata']
        private = {'namespace': meta['namespace'],
                   'serviceaccount': {'name': meta['name'], 'uid': meta['uid']}}
        if bound_object:
            private[bound_object['kind'].lower()] = {'name': bound_object.get('name'), 'uid': bound_object.get('uid')}
        claims = {
            'iss': self.issuer, 'sub': 'system:serviceaccount:%s:%s' % (meta['namespace'], meta['name']),
            'aud': list(audiences), 'iat': now, 'nbf': now, 'exp': expires, 'jti': str(uuid.uuid4()),
            'kubernetes.io': private,
        }
        token = jwt.encode(claims, self._key, algorithm='RS256', headers={'kid': self.key_id})
        return token, expires

    def verify(self, token, audiences=None):
        """The claims of a valid token (signature, expiry, issuer, and audience if given); raises jwt errors."""
        options = {'verify_aud': audiences is not None}
        return jwt.decode(token, self._key.public_key(), algorithms=['RS256'], issuer=self.issuer,
                          audience=audiences, options=options)

    def jwks(self):
        numbers = self._key.public_key().public_numbers()
        return {'keys': [{'use': 'sig', 'kty': 'RSA', 'kid': self.key_id, 'alg': 'RS256',
                          'n': _b64url_uint(numbers.n), 'e': _b64url_uint(numbers.e)}]}

    def openid_configuration(self, server_url):
        return {'issuer': self.issuer, 'jwks_uri': server_url + '/openid/v1/jwks',
                'response_types_supported': ['id_token'], 'subject_types_supported': ['public'],
                'id_token_signing_alg_values_supported': ['RS256']}
