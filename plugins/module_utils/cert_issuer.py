# -*- coding: utf-8 -*-
# Copyright (c) meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backend of ``meshbridge.istio_vm.cert_issue``: validate, plan, and write one level of the mesh CA.

``CertIssuer.run()`` checks every input before it touches the filesystem, works out which files are missing or
stale and why, then (outside check mode) writes them and returns what the module reports.
"""

from __future__ import annotations

import collections
import datetime
import os
import re

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import certificates as certs
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.atomic_file import write_file
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.durations import (
    DurationTooLong,
    format_duration,
    parse_duration,
)
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.spiffe import (
    dns1123_label_problem,
    dns1123_subdomain_problem,
    spiffe_id,
)

# File names per kind, as Istio's tools/certs and the VM sidecar (/etc/certs) name them.
# 'cert' holds the certificate alone, 'chain' the certificate followed by its issuers.
FILE_NAMES = {
    'root': {'key': 'root-key.pem', 'cert': 'root-cert.pem'},
    'intermediate': {'key': 'ca-key.pem', 'cert': 'ca-cert.pem', 'chain': 'cert-chain.pem', 'root': 'root-cert.pem'},
    'workload': {'key': 'key.pem', 'chain': 'cert-chain.pem', 'root': 'root-cert.pem'},
}

DEFAULT_TTL = {'root': '3650d', 'intermediate': '730d', 'workload': '24h'}
DEFAULT_RSA_KEY_SIZE = {'root': 4096, 'intermediate': 4096, 'workload': 2048}
DEFAULT_COMMON_NAME = {'root': 'Root CA', 'intermediate': 'Intermediate CA'}
DEFAULT_ORGANIZATION = 'Istio'
DEFAULT_TRUST_DOMAIN = 'cluster.local'
ISTIOD_DNS_NAME = 'istiod.istio-system.svc'

# istiod backdates workload certificates by two minutes to tolerate clock skew; the CAs get the same margin.
BACKDATE = datetime.timedelta(minutes=2)
# The latest notAfter a certificate can carry (RFC 5280 GeneralizedTime ends at year 9999).
MAX_NOT_AFTER = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc)

# Options that mean something for some kinds only; giving one to another kind is a mistake worth reporting.
_KIND_OPTIONS = {
    'signer': ('intermediate', 'workload'),
    'signer_cert_path': ('intermediate', 'workload'),
    'cluster_name': ('intermediate',),
    'common_name': ('root', 'intermediate'),
    'organization': ('root', 'intermediate'),
    'trust_domain': ('workload',),
    'namespace': ('workload',),
    'service_account': ('workload',),
}

Signer = collections.namedtuple('Signer', ['cert', 'key', 'path'])  # path: the signer's cert up to the root
Existing = collections.namedtuple('Existing', ['key', 'cert', 'problems'])


class ParameterError(Exception):
    """An option value that cannot work; the message starts with the option's name."""

    def __init__(self, parameter, message):
        super().__init__('%s: %s' % (parameter, message))
        self.parameter = parameter


def _iso(moment):
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


def _read(path):
    with open(path, 'rb') as handle:
        return handle.read()


class CertIssuer:
    """Issues one root, intermediate or workload certificate into ``dest`` for an ``AnsibleModule``."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.kind = module.params['kind']
        self.dest = module.params['dest']
        self.names = FILE_NAMES[self.kind]
        self.now = certs.utc_now()

    def _path(self, role):
        return os.path.join(self.dest, self.names[role])

    # ---- inputs -------------------------------------------------------------------------------------------------

    def _check_options_apply(self):
        for option, kinds in _KIND_OPTIONS.items():
            if self.params.get(option) is not None and self.kind not in kinds:
                raise ParameterError(option, 'does not apply to kind=%s (only to kind=%s)' % (self.kind, ' or '.join(kinds)))

    def _key_spec(self):
        key_type, key_size, curve = self.params['key_type'], self.params['key_size'], self.params['curve']
        if key_type == 'rsa':
            if curve is not None:
                raise ParameterError('curve', 'applies to key_type=ecdsa only; use key_size for RSA keys')
            return certs.key_spec('rsa', key_size=key_size or DEFAULT_RSA_KEY_SIZE[self.kind])
        if key_size is not None:
            raise ParameterError('key_size', 'applies to key_type=rsa only; use curve for ECDSA keys')
        return certs.key_spec('ecdsa', curve=curve or certs.CURVES[0])

    def _duration(self, name, default=None):
        text = self.params[name] if self.params[name] is not None else default
        if text is None:
            return None
        try:
            return parse_duration(text)
        except ValueError as error:
            raise ParameterError(name, str(error)) from None

    def _ttl(self):
        """ttl, positive and short enough for the certificate to end by MAX_NOT_AFTER."""
        longest = MAX_NOT_AFTER - self.now
        too_long = ParameterError('ttl', '%s is too long: a certificate issued now can last at most %s (until %s, '
                                         'the latest date a certificate can carry)'
                                  % (self.params['ttl'], format_duration(longest), _iso(MAX_NOT_AFTER)))
        try:
            ttl = parse_duration(self.params['ttl'] if self.params['ttl'] is not None else DEFAULT_TTL[self.kind])
        except DurationTooLong:
            raise too_long from None
        except ValueError as error:
            raise ParameterError('ttl', str(error)) from None
        if ttl <= datetime.timedelta(0):
            raise ParameterError('ttl', '%s is not a positive duration' % self.params['ttl'])
        if ttl > longest:
            raise too_long
        return ttl

    def _identity(self):
        """The workload's SPIFFE ID, its parts checked against the rules Kubernetes and Istio apply."""
        trust_domain = self.params['trust_domain'] or DEFAULT_TRUST_DOMAIN
        for name, value, problem in (
                ('trust_domain', trust_domain, dns1123_subdomain_problem(trust_domain)),
                ('namespace', self.params['namespace'], dns1123_label_problem(self.params['namespace'])),
                ('service_account', self.params['service_account'],
                 dns1123_subdomain_problem(self.params['service_account']))):
            if problem:
                raise ParameterError(name, '%r is not a valid name: it %s' % (value, problem))
        return spiffe_id(trust_domain, self.params['namespace'], self.params['service_account'])

    def _profile(self, key):
        if self.kind == 'workload':
            return certs.workload_profile(self._identity(), key)
        organization = self.params['organization'] or DEFAULT_ORGANIZATION
        common_name = self.params['common_name'] or DEFAULT_COMMON_NAME[self.kind]
        if self.kind == 'root':
            return certs.root_profile(common_name, organization, key)
        if not self.params['cluster_name']:
            raise ParameterError('cluster_name', 'must name the cluster this intermediate CA is for')
        return certs.intermediate_profile(common_name, organization, self.params['cluster_name'], ISTIOD_DNS_NAME, key)

    def _signer_files(self):
        """(option to blame, cert bundle path, key path) for the configured signer."""
        directory = self.params['signer']
        if directory is None:
            return 'signer_cert_path', self.params['signer_cert_path'], self.params['signer_key_path']
        intermediate = [os.path.join(directory, name) for name in ('cert-chain.pem', 'ca-key.pem')]
        root = [os.path.join(directory, name) for name in ('root-cert.pem', 'root-key.pem')]
        for cert_path, key_path in (intermediate, root):
            if os.path.exists(cert_path) and os.path.exists(key_path):
                return 'signer', cert_path, key_path
        raise ParameterError('signer', '%s holds neither an intermediate CA (cert-chain.pem, ca-key.pem) nor a root CA '
                                       '(root-cert.pem, root-key.pem); issue the signer first' % directory)

    def _load_signer(self):
        option, cert_path, key_path = self._signer_files()
        key_option = 'signer' if option == 'signer' else 'signer_key_path'
        try:
            path = certs.load_certificates(_read(cert_path))
        except (OSError, certs.CertificateError) as error:
            raise ParameterError(option, 'cannot read the CA certificate %s: %s' % (cert_path, error)) from None
        try:
            key = certs.load_private_key(_read(key_path))
        except (OSError, certs.CertificateError) as error:
            raise ParameterError(key_option, 'cannot read the CA key %s: %s' % (key_path, error)) from None

        for position, (cert, issuer) in enumerate(zip(path, path[1:])):
            if not certs.is_issued_by(cert, issuer):
                raise ParameterError(option, 'in %s, certificate %d (%s) is not signed by the next one (%s)'
                                     % (cert_path, position + 1, cert.subject.rfc4514_string(), issuer.subject.rfc4514_string()))
        if not certs.is_self_signed(path[-1]):
            raise ParameterError(option, '%s must hold the CA certificate followed by its issuers up to the self-signed '
                                         'root (like an Istio cert-chain.pem); its last certificate (%s) is not self-signed'
                                 % (cert_path, path[-1].subject.rfc4514_string()))
        signer = Signer(cert=path[0], key=key, path=path)
        subject = signer.cert.subject.rfc4514_string()
        if not certs.is_ca(signer.cert):
            raise ParameterError(option, '%s (%s) is not a CA certificate (it needs CA:true and keyCertSign)' % (cert_path, subject))
        if not certs.key_matches(key, signer.cert):
            raise ParameterError(key_option, 'the CA key %s does not match the CA certificate %s' % (key_path, cert_path))
        if certs.not_after(signer.cert) <= self.now:
            raise ParameterError(option, 'the CA certificate %s (%s) expired at %s; renew it first'
                                 % (cert_path, subject, _iso(certs.not_after(signer.cert))))
        if self.kind == 'intermediate' and certs.path_length(signer.cert) == 0:
            raise ParameterError(option, '%s (%s) has pathlen:0, so it cannot sign another CA; sign the intermediate '
                                         'with the root CA' % (cert_path, subject))
        return signer

    # ---- what is on disk ----------------------------------------------------------------------------------------

    def _existing(self):
        """The key and certificate in ``dest``, and what is wrong with them (missing, unreadable)."""
        problems = []
        key = cert = None
        key_path = self._path('key')
        cert_path = self._path('cert' if 'cert' in self.names else 'chain')
        try:
            key = certs.load_private_key(_read(key_path))
        except FileNotFoundError:
            problems.append('%s is missing' % self.names['key'])
        except (OSError, certs.CertificateError) as error:
            problems.append('%s is unreadable: %s' % (self.names['key'], error))
        try:
            cert = certs.load_certificates(_read(cert_path))[0]
        except FileNotFoundError:
            problems.append('%s is missing' % os.path.basename(cert_path))
        except (OSError, certs.CertificateError) as error:
            problems.append('%s is unreadable: %s' % (os.path.basename(cert_path), error))
        return Existing(key=key, cert=cert, problems=problems)

    def _renew_before(self, cert):
        renew_before = self._duration('renew_before')
        if renew_before is None:
            return (certs.not_after(cert) - certs.not_before(cert)) / 3
        return renew_before

    def _reasons_to_issue(self, existing, signer, profile):
        """Why the certificate must be issued anew; empty when the existing one is still right."""
        if self.params['force']:
            return ['force=true']
        reasons = list(existing.problems)
        if existing.cert is None:
            return reasons
        cert = existing.cert
        if existing.key is not None and not certs.key_matches(existing.key, cert):
            reasons.append('the key does not match the certificate')
        if signer is None:
            if not certs.is_self_signed(cert):
                reasons.append('the certificate is not self-signed')
        elif not certs.is_issued_by(cert, signer.cert):
            reasons.append('the certificate is not signed by the given CA (%s)' % signer.cert.subject.rfc4514_string())
        for field in certs.profile_differences(profile, certs.profile_of(cert)):
            reasons.append('%s changed' % field.replace('_', ' '))
        renew_before = self._renew_before(cert)
        if certs.not_after(cert) - self.now <= renew_before:
            reasons.append('the certificate expires at %s, within renew_before (%s)'
                           % (_iso(certs.not_after(cert)), format_duration(renew_before)))
        return reasons

    # ---- outputs ------------------------------------------------------------------------------------------------

    def _contents(self, cert, signer):
        """The bytes every certificate file in ``dest`` must hold, given the (new or kept) certificate."""
        leaf = certs.certificate_pem(cert)
        if self.kind == 'root':
            return {'cert': leaf}
        root = certs.certificate_pem(signer.path[-1])
        issuers = signer.path if self.kind == 'intermediate' else signer.path[:-1]
        contents = {'chain': leaf + b''.join(certs.certificate_pem(issuer) for issuer in issuers), 'root': root}
        if self.kind == 'intermediate':
            # Istio's cacerts: cert-chain.pem runs from the intermediate up to and including the root.
            contents['cert'] = leaf
        return contents

    def _stale_files(self, contents):
        stale = []
        for role, data in contents.items():
            try:
                if _read(self._path(role)) == data:
                    continue
            except OSError:
                pass
            stale.append(role)
        return stale

    def _file_args(self, path, mode):
        args = self.module.load_file_common_arguments(self.params, path=path)
        if mode is not None:
            args['mode'] = mode
        return args

    def _apply_attributes(self, roles):
        """Owner, group and mode of dest and of the files in ``roles``: (changed, attribute diffs)."""
        changed, diffs = False, []
        targets = [(self.dest, 0o700)]
        for role in roles:
            targets.append((self._path(role), 0o600 if role == 'key' else (self.params['mode'] or 0o644)))
        for path, mode in targets:
            if not os.path.exists(path):  # check mode, not created yet: already counted as a change
                continue
            diff = {'before': {}, 'after': {}}
            if self.module.set_fs_attributes_if_different(self._file_args(path, mode), False, diff=diff):
                changed = True
                diff['before_header'] = diff['after_header'] = path
                diffs.append(diff)
        return changed, diffs

    @staticmethod
    def _describe(cert):
        """What the diff and the result show of a certificate."""
        return {
            'subject': cert.subject.rfc4514_string(),
            'sans': list(certs.profile_of(cert).sans),
            'not_after': _iso(certs.not_after(cert)),
            'sha256_fingerprint': certs.sha256_fingerprint(cert),
        }

    @staticmethod
    def _describe_planned(profile, not_after):
        """The same for a certificate check mode has not issued: its fingerprint is not known yet."""
        return {
            'subject': certs.subject_text(profile.subject),
            'sans': list(profile.sans),
            'not_after': _iso(not_after),
            'sha256_fingerprint': '(known once issued)',
        }

    def _validity(self, ttl, signer):
        """(not_before, not_after) of a certificate issued now; a signed one ends no later than its signer."""
        not_after = self.now + ttl
        if signer is not None and certs.not_after(signer.cert) < not_after:
            not_after = certs.not_after(signer.cert)
            renew_before = self._duration('renew_before')
            consequence = 'renew the signer'
            if renew_before is not None and not_after - self.now <= renew_before:
                consequence = 'until the signer is renewed, every run issues a new certificate'
            self.module.warn('The %s certificate is cut short to expire with its signer at %s; %s.'
                             % (self.kind, _iso(not_after), consequence))
        return self.now - BACKDATE, not_after

    def _cert_mode(self):
        """The mode new certificate files are written with; a symbolic ``mode`` is applied right after."""
        mode = self.params['mode']
        if isinstance(mode, int):
            return mode
        if mode is not None and re.match(r'^0?[0-7]{3,4}$', str(mode)):
            return int(str(mode), 8)
        return 0o644 if mode is None else 0o600

    def _check_inputs(self):
        """Every option, checked before anything is read from dest or written: (key spec, profile, ttl, signer)."""
        self._check_options_apply()
        spec = self._key_spec()
        profile = self._profile(spec)
        ttl = self._ttl()
        renew_before = self._duration('renew_before')
        if renew_before is not None and not datetime.timedelta(0) <= renew_before < ttl:
            raise ParameterError('renew_before', '%s must be at least 0s and shorter than ttl (%s), or every run would '
                                                 'issue a new certificate' % (self.params['renew_before'], format_duration(ttl)))
        signer = self._load_signer() if self.kind != 'root' else None
        return spec, profile, ttl, signer

    def _write(self, roles, key, contents):
        if not os.path.isdir(self.dest):
            os.makedirs(self.dest, mode=0o700)
        for role in roles:
            if role == 'key':
                write_file(self.module, self._path('key'), certs.private_key_pem(key), 0o600)
            else:
                write_file(self.module, self._path(role), contents[role], self._cert_mode())

    def run(self):
        spec, profile, ttl, signer = self._check_inputs()
        existing = self._existing()
        reasons = self._reasons_to_issue(existing, signer, profile)
        cert_roles = [role for role in self.names if role != 'key']

        if not reasons:
            cert = existing.cert
            contents = self._contents(cert, signer)
            stale = self._stale_files(contents)
            if stale and not self.module.check_mode:
                self._write(stale, None, contents)
            after = self._describe(cert)
        elif self.module.check_mode:
            cert = None
            stale = ['key'] + cert_roles
            after = self._describe_planned(profile, self._validity(ttl, signer)[1])
        else:
            key = certs.generate_key(spec)
            valid_from, valid_until = self._validity(ttl, signer)
            cert = certs.issue(profile, key, valid_from, valid_until,
                               signer_cert=signer.cert if signer else None, signer_key=signer.key if signer else None)
            stale = ['key'] + cert_roles
            self._write(stale, key, self._contents(cert, signer))
            after = self._describe(cert)
        attributes_changed, attribute_diffs = self._apply_attributes(['key'] + cert_roles)

        result = {
            'changed': bool(stale) or attributes_changed,
            'issued': bool(reasons),
            'reasons': reasons,
            'written': [self._path(role) for role in stale],
            'files': dict((role, self._path(role)) for role in self.names),
            'subject': after['subject'],
            'sans': after['sans'],
            'not_before': _iso(certs.not_before(cert)) if cert is not None else None,
            'not_after': after['not_after'],
            'serial_number': cert.serial_number if cert is not None else None,
            'fingerprints': {'sha256': certs.sha256_fingerprint(cert)} if cert is not None else {},
        }
        if self.kind == 'workload':
            result['spiffe_id'] = profile.sans[0][len('URI:'):]
        if self.module._diff:
            before = self._describe(existing.cert) if existing.cert is not None else {}
            result['diff'] = [{'before': before, 'after': after,
                               'before_header': self.dest, 'after_header': self.dest}] + attribute_diffs
        return result
