"""Profiles: what is issued reads back as the same profile, and the CA checks look at what openssl looks at."""

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import certificates as certs

NOW = datetime.datetime.now(datetime.timezone.utc)
HOUR = datetime.timedelta(hours=1)


@pytest.fixture(scope='module')
def root():
    key = certs.generate_key('ecdsa-secp256r1')
    return certs.issue(certs.root_profile('Root CA', 'Istio', 'ecdsa-secp256r1'), key, NOW - HOUR, NOW + HOUR), key


@pytest.mark.parametrize('profile', [
    certs.root_profile('Root CA', 'Istio', 'ecdsa-secp256r1'),
    certs.intermediate_profile('Intermediate CA', 'Istio', 'west', 'istiod.istio-system.svc', 'ecdsa-secp384r1'),
    certs.workload_profile('spiffe://cluster.local/ns/default/sa/a', 'rsa-2048'),
])
def test_issued_certificate_reads_back_as_its_profile(root, profile):
    root_cert, root_key = root
    key = certs.generate_key(profile.key)
    cert = certs.issue(profile, key, NOW - HOUR, NOW + HOUR, signer_cert=root_cert, signer_key=root_key)
    assert certs.profile_of(cert) == profile
    assert certs.profile_differences(profile, certs.profile_of(cert)) == []
    assert certs.is_issued_by(cert, root_cert) and certs.key_matches(key, cert)


def test_differences_name_the_fields():
    wanted = certs.workload_profile('spiffe://cluster.local/ns/default/sa/a', 'rsa-2048')
    other = certs.workload_profile('spiffe://cluster.local/ns/default/sa/b', 'ecdsa-secp256r1')
    assert certs.profile_differences(wanted, other) == ['sans', 'key']


def test_ca_needs_key_cert_sign_when_key_usage_is_present(root):
    root_cert, root_key = root
    no_signing = certs.root_profile('R', 'O', 'ecdsa-secp256r1')._replace(key_usage=('digital_signature',))
    cert = certs.issue(no_signing, root_key, NOW - HOUR, NOW + HOUR)
    assert certs.is_ca(root_cert) and not certs.is_ca(cert)


def test_ca_without_key_usage_is_still_a_ca(root):
    _root_cert, root_key = root
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, 'bare')])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(root_key.public_key())
            .serial_number(1).not_valid_before(NOW - HOUR).not_valid_after(NOW + HOUR)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .sign(root_key, hashes.SHA256()))
    assert certs.is_ca(cert) and certs.path_length(cert) == 1


def test_unreadable_inputs_raise_certificate_error():
    with pytest.raises(certs.CertificateError):
        certs.load_certificates(b'not pem')
    with pytest.raises(certs.CertificateError):
        certs.load_private_key(b'not pem')


def test_fingerprint_format(root):
    fingerprint = certs.sha256_fingerprint(root[0])
    assert len(fingerprint.split(':')) == 32 and fingerprint == fingerprint.upper()
