"""The lab CA's server certificates verify with openssl and carry the names asked for."""

import subprocess

from lab.pki import LabCA


def test_server_cert_verifies_and_names_hosts(tmp_path):
    ca = LabCA(str(tmp_path / 'pki'))
    cert, key = ca.issue_server_cert('googleapis', hostnames=['compute.googleapis.com'], ips=['127.0.10.1'])

    verify = subprocess.run(['openssl', 'verify', '-CAfile', ca.cert_path, cert], capture_output=True, text=True, check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr

    text = subprocess.run(['openssl', 'x509', '-in', cert, '-noout', '-ext', 'subjectAltName'],
                          capture_output=True, text=True, check=True).stdout
    assert 'DNS:compute.googleapis.com' in text
    assert 'IP Address:127.0.10.1' in text
    assert (tmp_path / 'pki' / 'googleapis-key.pem').stat().st_mode & 0o777 == 0o600


def test_ca_is_reused_not_regenerated(tmp_path):
    first = LabCA(str(tmp_path))
    second = LabCA(str(tmp_path))
    assert first.cert.fingerprint(first.cert.signature_hash_algorithm) == \
        second.cert.fingerprint(second.cert.signature_hash_algorithm)
