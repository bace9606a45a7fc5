# -*- coding: utf-8 -*-
# Copyright (c) meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build and inspect the certificates and keys of an Istio mesh CA hierarchy with ``cryptography``.

A certificate is described by a ``Profile``: the parts of it that the caller asks for (subject, SANs, CA
constraints, key usages, key type). The same description is read back from an existing certificate, so deciding
whether a certificate still matches a request is an equality test. Nothing here touches the filesystem.
"""

from __future__ import annotations

import collections
import datetime
import traceback

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None

RSA_KEY_SIZES = (2048, 3072, 4096)
CURVES = ('secp256r1', 'secp384r1')

# Istio's tools/certs: CA certificates carry these usages, critical.
CA_KEY_USAGE = ('digital_signature', 'content_commitment', 'key_encipherment', 'key_cert_sign')
# istiod's workload certificates (security/pkg/pki/util/generate_cert.go).
WORKLOAD_KEY_USAGE = ('digital_signature', 'key_encipherment')
WORKLOAD_EXTENDED_KEY_USAGE = ('serverAuth', 'clientAuth')

_KEY_USAGE_FIELDS = ('digital_signature', 'content_commitment', 'key_encipherment', 'data_encipherment',
                     'key_agreement', 'key_cert_sign', 'crl_sign')
_SUBJECT_FIELDS = (('O', 'ORGANIZATION_NAME'), ('CN', 'COMMON_NAME'), ('L', 'LOCALITY_NAME'))

Profile = collections.namedtuple('Profile', [
    'subject',             # tuple of (short name, value) pairs, e.g. (('O', 'Istio'), ('CN', 'Root CA'))
    'sans',                # tuple of 'DNS:name' / 'URI:uri' strings
    'san_critical',        # bool; RFC 5280 requires it when the subject is empty
    'ca',                  # bool
    'path_length',         # int or None
    'key_usage',           # tuple of cryptography KeyUsage field names, in _KEY_USAGE_FIELDS order
    'extended_key_usage',  # tuple of 'serverAuth' / 'clientAuth'
    'key',                 # 'rsa-4096', 'ecdsa-secp256r1', ...
])


class CertificateError(Exception):
    """A certificate or key cannot be read, or does not hold what it must."""


def key_spec(key_type, key_size=None, curve=None):
    """The key description used in profiles: ``rsa-<bits>`` or ``ecdsa-<curve>``."""
    if key_type == 'rsa':
        return 'rsa-%d' % key_size
    return 'ecdsa-%s' % curve


def generate_key(spec):
    """A new private key for a spec from ``key_spec``."""
    kind, detail = spec.split('-', 1)
    if kind == 'rsa':
        return rsa.generate_private_key(public_exponent=65537, key_size=int(detail))
    curves = {'secp256r1': ec.SECP256R1, 'secp384r1': ec.SECP384R1}
    return ec.generate_private_key(curves[detail]())


def describe_public_key(public_key):
    """The ``key_spec`` of a public key, or ``<type>-unsupported`` for keys this module does not issue."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return 'rsa-%d' % public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return 'ecdsa-%s' % public_key.curve.name
    return '%s-unsupported' % type(public_key).__name__


def root_profile(common_name, organization, key):
    return Profile(subject=(('O', organization), ('CN', common_name)), sans=(), san_critical=False,
                   ca=True, path_length=None, key_usage=CA_KEY_USAGE, extended_key_usage=(), key=key)


def intermediate_profile(common_name, organization, cluster_name, istiod_dns_name, key):
    return Profile(subject=(('O', organization), ('CN', common_name), ('L', cluster_name)),
                   sans=('DNS:' + istiod_dns_name,), san_critical=False, ca=True, path_length=0,
                   key_usage=CA_KEY_USAGE, extended_key_usage=(), key=key)


def workload_profile(spiffe_uri, key):
    # istiod leaves the subject empty, so the identity lives only in the SAN, which must then be critical.
    return Profile(subject=(), sans=('URI:' + spiffe_uri,), san_critical=True, ca=False, path_length=None,
                   key_usage=WORKLOAD_KEY_USAGE, extended_key_usage=WORKLOAD_EXTENDED_KEY_USAGE, key=key)


def _name(subject):
    return x509.Name([x509.NameAttribute(getattr(NameOID, dict(_SUBJECT_FIELDS)[short]), value)
                      for short, value in subject])


def _general_name(san):
    kind, value = san.split(':', 1)
    return x509.DNSName(value) if kind == 'DNS' else x509.UniformResourceIdentifier(value)


def _extended_key_usage_oid(name):
    return {'serverAuth': ExtendedKeyUsageOID.SERVER_AUTH, 'clientAuth': ExtendedKeyUsageOID.CLIENT_AUTH}[name]


def issue(profile, private_key, not_before, not_after, signer_cert=None, signer_key=None):
    """Sign a certificate for ``profile`` over ``private_key``'s public half.

    Without ``signer_cert`` the certificate is self-signed by ``private_key``.
    """
    public_key = private_key.public_key()
    usage = dict((field, field in profile.key_usage) for field in _KEY_USAGE_FIELDS)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(profile.subject))
        .issuer_name(signer_cert.subject if signer_cert is not None else _name(profile.subject))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=profile.ca, path_length=profile.path_length), critical=True)
        .add_extension(x509.KeyUsage(encipher_only=False, decipher_only=False, **usage), critical=True)
    )
    if profile.extended_key_usage:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([_extended_key_usage_oid(name) for name in profile.extended_key_usage]),
            critical=False)
    if profile.sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([_general_name(san) for san in profile.sans]),
                                        critical=profile.san_critical)
    if profile.ca:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    if signer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_cert.public_key()), critical=False)
    return builder.sign(signer_key if signer_key is not None else private_key, hashes.SHA256())


def _extension(cert, extension_class):
    try:
        return cert.extensions.get_extension_for_class(extension_class)
    except x509.ExtensionNotFound:
        return None


def _subject_of(cert):
    short_names = dict((getattr(NameOID, oid_name), short) for short, oid_name in _SUBJECT_FIELDS)
    return tuple((short_names.get(attribute.oid, attribute.oid.dotted_string), attribute.value)
                 for attribute in cert.subject)


def _sans_of(cert):
    extension = _extension(cert, x509.SubjectAlternativeName)
    if extension is None:
        return (), False
    sans = []
    for name in extension.value:
        if isinstance(name, x509.DNSName):
            sans.append('DNS:' + name.value)
        elif isinstance(name, x509.UniformResourceIdentifier):
            sans.append('URI:' + name.value)
        else:
            sans.append('%s:%s' % (type(name).__name__, name.value))
    return tuple(sans), extension.critical


def _key_usage_of(cert):
    extension = _extension(cert, x509.KeyUsage)
    if extension is None:
        return ()
    return tuple(field for field in _KEY_USAGE_FIELDS if getattr(extension.value, field))


def _extended_key_usage_of(cert):
    extension = _extension(cert, x509.ExtendedKeyUsage)
    if extension is None:
        return ()
    names = {ExtendedKeyUsageOID.SERVER_AUTH: 'serverAuth', ExtendedKeyUsageOID.CLIENT_AUTH: 'clientAuth'}
    return tuple(names.get(oid, oid.dotted_string) for oid in extension.value)


def profile_of(cert):
    """The ``Profile`` an existing certificate satisfies."""
    constraints = _extension(cert, x509.BasicConstraints)
    sans, san_critical = _sans_of(cert)
    return Profile(
        subject=_subject_of(cert),
        sans=sans,
        san_critical=san_critical,
        ca=bool(constraints and constraints.value.ca),
        path_length=constraints.value.path_length if constraints else None,
        key_usage=_key_usage_of(cert),
        extended_key_usage=_extended_key_usage_of(cert),
        key=describe_public_key(cert.public_key()),
    )


def profile_differences(wanted, actual):
    """Names of the profile fields in which ``actual`` differs from ``wanted``."""
    return [field for field in Profile._fields if getattr(wanted, field) != getattr(actual, field)]


def is_ca(cert):
    """True when ``cert`` may sign certificates: CA:true and, if it has KeyUsage, keyCertSign."""
    constraints = _extension(cert, x509.BasicConstraints)
    usage = _extension(cert, x509.KeyUsage)
    return bool(constraints and constraints.value.ca and (usage is None or usage.value.key_cert_sign))


def path_length(cert):
    """The CA's pathlen constraint, None when unlimited."""
    constraints = _extension(cert, x509.BasicConstraints)
    return constraints.value.path_length if constraints else None


def is_issued_by(cert, issuer):
    """True when ``issuer`` signed ``cert`` (names chain and the signature verifies)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def is_self_signed(cert):
    return is_issued_by(cert, cert)


def key_matches(private_key, cert):
    """True when ``private_key`` is the key ``cert`` certifies."""
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return (private_key.public_key().public_bytes(serialization.Encoding.DER, spki)
            == cert.public_key().public_bytes(serialization.Encoding.DER, spki))


def load_certificates(data):
    """All certificates of a PEM bundle, in order; CertificateError if there are none or one is malformed."""
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as error:
        raise CertificateError('not a PEM certificate bundle (%s)' % error) from None
    return certs


def load_private_key(data):
    """An unencrypted PEM private key; CertificateError if it cannot be read."""
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise CertificateError('not an unencrypted PEM private key (%s)' % error) from None


def certificate_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def private_key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def not_before(cert):
    return cert.not_valid_before_utc


def not_after(cert):
    return cert.not_valid_after_utc


def sha256_fingerprint(cert):
    """Colon-separated hex, as ``openssl x509 -fingerprint -sha256`` prints it."""
    return ':'.join('%02X' % byte for byte in cert.fingerprint(hashes.SHA256()))


def subject_text(subject):
    """A profile subject as RFC 4514 text (``CN=Root CA,O=Istio``); empty for an empty subject."""
    return _name(subject).rfc4514_string() if subject else ''


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)
