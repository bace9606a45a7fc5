"""The workload's key, CSR and certificate, with the VM's ``openssl`` (no Python crypto library on the VM).

As the real agent: an RSA 2048 key made on the VM that never leaves it, a CSR whose only identity is the URI SAN
``spiffe://<trust domain>/ns/<namespace>/sa/<service account>``, and renewal once half the certificate's lifetime
has passed (Istio's default SECRET_GRACE_PERIOD_RATIO, 0.5).
"""

import datetime
import os
import subprocess
import tempfile

RENEW_AT_LIFETIME_FRACTION = 0.5


class IdentityError(Exception):
    """openssl failed, or istiod's certificate is unusable; the message says which and why."""


def _openssl(*args, stdin=None):
    done = subprocess.run(('openssl',) + args, input=stdin, capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0:
        raise IdentityError('openssl %s failed: %s' % (args[0], done.stderr.strip().splitlines()[-1:] or ['?']))
    return done.stdout


def new_key_and_csr(spiffe_id):
    """A fresh private key and a CSR for ``spiffe_id``, both PEM text."""
    with tempfile.TemporaryDirectory(prefix='pilot-agent-csr-') as work:
        key_path = os.path.join(work, 'key.pem')
        _openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key_path)
        csr = _openssl('req', '-new', '-key', key_path, '-subj', '/', '-addext', 'subjectAltName=critical,URI:' + spiffe_id)
        with open(key_path, encoding='ascii') as handle:
            return handle.read(), csr


def _time(text):
    return datetime.datetime.strptime(text, '%b %d %H:%M:%S %Y %Z').replace(tzinfo=datetime.timezone.utc)


def validity(cert_pem):
    """(not_before, not_after) of a PEM certificate, as aware UTC datetimes."""
    out = _openssl('x509', '-noout', '-startdate', '-enddate', stdin=cert_pem)
    fields = dict(line.split('=', 1) for line in out.splitlines() if '=' in line)
    return _time(fields['notBefore']), _time(fields['notAfter'])


def verify_chain(chain, root_pem):
    """Check that ``chain`` (leaf first) leads to ``root_pem``; IdentityError otherwise."""
    with tempfile.TemporaryDirectory(prefix='pilot-agent-verify-') as work:
        paths = {}
        for name, text in (('root', root_pem), ('untrusted', ''.join(chain[1:])), ('leaf', chain[0])):
            paths[name] = os.path.join(work, name + '.pem')
            with open(paths[name], 'w', encoding='ascii') as handle:
                handle.write(text)
        args = ['verify', '-CAfile', paths['root']]
        if len(chain) > 1:
            args += ['-untrusted', paths['untrusted']]
        try:
            _openssl(*(args + [paths['leaf']]))
        except IdentityError as error:
            raise IdentityError('the certificate istiod issued does not chain to root-cert.pem: %s' % error) from None


class WorkloadCert:
    """An issued certificate chain (leaf first) with its key, written where Envoy reads them."""

    def __init__(self, chain, key_pem):
        if not chain:
            raise IdentityError('istiod returned an empty certificate chain')
        self.chain = chain
        self.key_pem = key_pem
        self.not_before, self.not_after = validity(chain[0])

    def valid(self, now=None):
        now = now or datetime.datetime.now(datetime.timezone.utc)
        return self.not_before <= now < self.not_after

    def renew_at(self):
        return self.not_before + (self.not_after - self.not_before) * RENEW_AT_LIFETIME_FRACTION

    def write(self, directory):
        """``cert-chain.pem`` (0644) and ``key.pem`` (0600) in ``directory``, each replaced atomically."""
        for name, text, mode in (('cert-chain.pem', ''.join(self.chain), 0o644), ('key.pem', self.key_pem, 0o600)):
            path = os.path.join(directory, name)
            partial = path + '.partial'
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(descriptor, 'w', encoding='ascii') as handle:
                handle.write(text)
            os.chmod(partial, mode)
            os.replace(partial, path)
