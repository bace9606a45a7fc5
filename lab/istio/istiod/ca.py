"""istiod's CA: the signing material from the cluster, workload certificates from CSRs, istiod's serving certificate.

Signing material, as istiod finds it: secret ``istio-system/cacerts`` (the plug-in CA: ``ca-cert.pem``,
``ca-key.pem``, ``cert-chain.pem``, ``root-cert.pem``), else the self-signed CA in ``istio-system/istio-ca-secret``.
When neither exists, ``load`` creates ``istio-ca-secret`` with a self-signed root, as a real istiod does at start.
"""

import base64
import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lab.istio.istiod.kube import ISTIO_NAMESPACE, KubeError

PLUGGED_SECRET = 'cacerts'
SELF_SIGNED_SECRET = 'istio-ca-secret'
_PLUGGED_KEYS = ('ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem')
# istiod's defaults: DEFAULT_WORKLOAD_CERT_TTL 24h when the request names none, MAX_WORKLOAD_CERT_TTL 90 days.
DEFAULT_TTL = datetime.timedelta(hours=24)
MAX_TTL = datetime.timedelta(days=90)
# Backdated a little so a VM whose clock runs slightly behind still accepts the certificate.
_BACKDATE = datetime.timedelta(minutes=1)


class CaError(Exception):
    """The CA cannot sign at all (no or broken signing material)."""


class CsrError(Exception):
    """The request cannot be signed as asked (bad CSR, identity, lifetime): INVALID_ARGUMENT."""


def _pem_certs(text):
    return [x509.load_pem_x509_certificate(block) for block in _pem_blocks(text)]


def _pem_blocks(text):
    end = '-----END CERTIFICATE-----'
    return [(part.strip() + '\n' + end + '\n').encode() for part in text.split(end) if part.strip()]


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class SigningCa:
    """A signing certificate and key, the chain above it and the root; ``source`` names the secret."""

    def __init__(self, source, cert_pem, key_pem, chain_pem, root_pem):
        self.source = source
        try:
            self.cert = x509.load_pem_x509_certificate(cert_pem.encode())
            self.key = serialization.load_pem_private_key(key_pem.encode(), None)
            chain = _pem_certs(chain_pem)
            self.root = x509.load_pem_x509_certificate(root_pem.encode())
        except ValueError as exc:
            raise CaError('secret %s/%s holds unreadable PEM: %s' % (ISTIO_NAMESPACE, source, exc)) from None
        if self.key.public_key().public_numbers() != self.cert.public_key().public_numbers():
            raise CaError('secret %s/%s: ca-key.pem is not the key of ca-cert.pem' % (ISTIO_NAMESPACE, source))
        # What follows a leaf in a response: the signer's chain up to the root, root last (cert-chain.pem).
        chain = chain or [self.cert]
        if chain[-1] != self.root:
            chain.append(self.root)
        self.chain = chain
        self.root_pem = _pem(self.root)

    def sign_workload(self, csr_pem, identity, requested_seconds):
        """Sign ``csr_pem`` for SPIFFE ``identity``; returns the PEM chain (leaf first, root last)."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem.encode())
        except ValueError:
            raise CsrError('the CSR is not a PEM certificate request') from None
        if not csr.is_signature_valid:
            raise CsrError('the CSR signature does not verify')
        try:
            san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            asked = san.get_values_for_type(x509.UniformResourceIdentifier)
        except x509.ExtensionNotFound:
            asked = []
        # Simplified: a real istiod issues for the caller's identity whatever the CSR asks; the lab refuses a CSR
        # for another identity, so an agent that builds the wrong one is caught where it goes wrong.
        if asked != [identity]:
            raise CsrError('the CSR asks for identities %s but the token authenticates %s' % (asked or 'none', identity))
        ttl = datetime.timedelta(seconds=requested_seconds) if requested_seconds > 0 else DEFAULT_TTL
        if ttl > MAX_TTL:
            raise CsrError('requested TTL %s is greater than the max allowed TTL %s' % (ttl, MAX_TTL))
        now = datetime.datetime.now(datetime.timezone.utc)
        # Istio's workload certificates: empty subject, so the URI SAN is critical (RFC 5280 4.2.1.6).
        builder = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(self.cert.subject)
                   .public_key(csr.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - _BACKDATE).not_valid_after(now + ttl)
                   .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity)]), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, content_commitment=False,
                                                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                         ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.cert.public_key()),
                                  critical=False))
        leaf = builder.sign(self.key, hashes.SHA256())
        return [_pem(leaf)] + [_pem(cert) for cert in self.chain]

    def serving_cert(self, dns_names):
        """istiod's own TLS certificate for ``dns_names``; returns (chain PEM: leaf + signer, key PEM)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        leaf = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(self.cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - _BACKDATE).not_valid_after(now + DEFAULT_TTL)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in dns_names]), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))
        chain = _pem(leaf) + ('' if self.cert == self.root else _pem(self.cert))
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        return chain, key_pem

    def verifies(self, cert):
        """Whether ``cert`` was issued by this CA's signing certificate (for client certificates on the stream)."""
        try:
            cert.verify_directly_issued_by(self.cert)
        except (ValueError, TypeError, InvalidSignature):
            return False
        now = datetime.datetime.now(datetime.timezone.utc)
        return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def _decoded(secret, key):
    return base64.b64decode((secret.get('data') or {}).get(key) or '').decode()


def load(kube):
    """The signing material istiod would use, read from the cluster; raises CaError naming what is missing."""
    plugged = kube.get('/api/v1/namespaces/%s/secrets/%s' % (ISTIO_NAMESPACE, PLUGGED_SECRET))
    if plugged is not None:
        missing = [key for key in _PLUGGED_KEYS if not (plugged.get('data') or {}).get(key)]
        if missing:
            raise CaError('secret %s/%s lacks %s (a plug-in CA needs %s)' % (
                ISTIO_NAMESPACE, PLUGGED_SECRET, ', '.join(missing), ', '.join(_PLUGGED_KEYS)))
        return SigningCa(PLUGGED_SECRET, *(_decoded(plugged, key) for key in _PLUGGED_KEYS))
    own = kube.get('/api/v1/namespaces/%s/secrets/%s' % (ISTIO_NAMESPACE, SELF_SIGNED_SECRET)) or _create_own(kube)
    cert = _decoded(own, 'ca-cert.pem')
    return SigningCa(SELF_SIGNED_SECRET, cert, _decoded(own, 'ca-key.pem'), '', cert)


def _create_own(kube):
    """istiod's own CA secret (type istio.io/ca-root, a self-signed root for O=cluster.local), or the one another
    istiod created first."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'cluster.local')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    data = {'ca-cert.pem': cert.public_bytes(serialization.Encoding.PEM),
            'ca-key.pem': key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                            serialization.NoEncryption()),
            'cert-chain.pem': b'', 'key.pem': b'', 'root-cert.pem': b''}
    secret = {'apiVersion': 'v1', 'kind': 'Secret', 'type': 'istio.io/ca-root',
              'metadata': {'name': SELF_SIGNED_SECRET, 'namespace': ISTIO_NAMESPACE},
              'data': {k: base64.b64encode(v).decode() for k, v in data.items()}}
    try:
        return kube.create('/api/v1/namespaces/%s/secrets' % ISTIO_NAMESPACE, secret)
    except KubeError as exc:
        if exc.code != 409:
            raise CaError('cannot create secret %s/%s: %s' % (ISTIO_NAMESPACE, SELF_SIGNED_SECRET, exc)) from None
        return kube.get('/api/v1/namespaces/%s/secrets/%s' % (ISTIO_NAMESPACE, SELF_SIGNED_SECRET))
