"""The lab's own certificate authority, for the TLS the stand-ins serve.

One CA per lab state directory signs the server certificates of the local internet (``*.googleapis.com``,
release hosts) and of each Kubernetes API stand-in. Clients trust it through ``REQUESTS_CA_BUNDLE``,
``SSL_CERT_FILE`` and gcloud's ``core/custom_ca_certs_file``. This is lab plumbing, not the mesh's CA: the mesh
CA is made by the collection's ``cert_issue`` module.
"""

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_ONE_DAY = datetime.timedelta(days=1)


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'wb') as handle:
        handle.write(data)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class LabCA:
    """A CA kept in ``directory`` (``ca.pem``, ``ca-key.pem``), created on first use."""

    def __init__(self, directory, common_name='meshbridge lab CA'):
        self.directory = directory
        self.cert_path = os.path.join(directory, 'ca.pem')
        self.key_path = os.path.join(directory, 'ca-key.pem')
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if os.path.exists(self.cert_path) and os.path.exists(self.key_path):
            with open(self.cert_path, 'rb') as handle:
                self.cert = x509.load_pem_x509_certificate(handle.read())
            with open(self.key_path, 'rb') as handle:
                self.key = serialization.load_pem_private_key(handle.read(), None)
        else:
            self._create(common_name)

    def _create(self, common_name):
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - _ONE_DAY).not_valid_after(_now() + 365 * _ONE_DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        _write_private(self.key_path, _key_pem(self.key))
        with open(self.cert_path, 'wb') as handle:
            handle.write(self.cert.public_bytes(serialization.Encoding.PEM))

    @property
    def cert_pem(self):
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue_server_cert(self, name, hostnames=(), ips=(), client=False):
        """Write ``<name>.pem`` and ``<name>-key.pem`` for the given DNS names and IPs; return both paths.

        ``client=True`` adds clientAuth, for stand-ins that also authenticate by certificate.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        sans = [x509.DNSName(host) for host in hostnames]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (list(hostnames) + list(ips) + [name])[0])])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - _ONE_DAY).not_valid_after(_now() + 90 * _ONE_DAY)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                           critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_path = os.path.join(self.directory, name + '.pem')
        key_path = os.path.join(self.directory, name + '-key.pem')
        _write_private(key_path, _key_pem(key))
        with open(cert_path, 'wb') as handle:
            handle.write(cert.public_bytes(serialization.Encoding.PEM))
        return cert_path, key_path
