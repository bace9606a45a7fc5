"""The equality instants of the renewal windows: a certificate whose remaining life equals renew_before is renewed
(cert_issuer: `not_after - now <= renew_before`), a bootstrap token whose remaining life equals token_renew_before is
kept (bootstrap_token: `remaining < renew_before`), and a token whose expiry is now has expired. The mutant each test
kills is named in its docstring."""

import contextlib
import datetime
import io
import json

import pytest
from ansible.module_utils.testing import patch_module_args
from cryptography import x509

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import bootstrap_token
from ansible_collections.meshbridge.istio_vm.plugins.module_utils import certificates as certs
from ansible_collections.meshbridge.istio_vm.plugins.modules import cert_issue

ONE_MICROSECOND = datetime.timedelta(microseconds=1)


def _cert_issue(**params):
    out = io.StringIO()
    with patch_module_args(dict(params, _ansible_check_mode=False)), contextlib.redirect_stdout(out), \
            pytest.raises(SystemExit):
        cert_issue.main()
    result = json.loads(out.getvalue())
    assert not result.get('failed'), result['msg']
    return result


@pytest.fixture(scope='module')
def signer(tmp_path_factory):
    base = tmp_path_factory.mktemp('ca')
    small = {'key_type': 'ecdsa'}
    _cert_issue(kind='root', dest=str(base / 'root'), **small)
    _cert_issue(kind='intermediate', dest=str(base / 'west'), signer=str(base / 'root'), cluster_name='west', **small)
    return str(base / 'west')


def _workload(signer, dest):
    return _cert_issue(kind='workload', dest=str(dest), signer=signer, namespace='default', service_account='a',
                       key_type='ecdsa', ttl='24h', renew_before='2h')


def test_a_certificate_at_exactly_renew_before_from_expiry_is_renewed(signer, tmp_path, monkeypatch):
    """Kills `not_after - now <= renew_before` -> `<` in cert_issuer (equality no longer renews), and -> a window one
    instant wider (renewing a microsecond before the window opens)."""
    _workload(signer, tmp_path / 'w')
    with open(tmp_path / 'w' / 'cert-chain.pem', 'rb') as handle:
        leaf = x509.load_pem_x509_certificates(handle.read())[0]
    opens = leaf.not_valid_after_utc - datetime.timedelta(hours=2)

    monkeypatch.setattr(certs, 'utc_now', lambda: opens - ONE_MICROSECOND)
    assert not _workload(signer, tmp_path / 'w')['changed']

    monkeypatch.setattr(certs, 'utc_now', lambda: opens)
    renewed = _workload(signer, tmp_path / 'w')
    assert renewed['issued'] and renewed['reasons'] == [
        'the certificate expires at %s, within renew_before (2h)' % leaf.not_valid_after_utc.strftime('%Y-%m-%dT%H:%M:%SZ')]


NOW = datetime.datetime(2026, 11, 24, 21, 0, tzinfo=datetime.timezone.utc)


def _jwt(exp):
    import base64

    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b'=').decode()
    payload = {'sub': 'system:serviceaccount:default:pcs', 'aud': ['istio-ca'], 'exp': exp}
    return '%s.%s.%s' % (part({'alg': 'RS256'}), part(payload), 'c2lnbmF0dXJl')


def _reason(exp, renew_before, now=NOW):
    return bootstrap_token.reissue_reason(_jwt(exp), 'default', 'pcs', renew_before, now)


def test_a_token_at_exactly_renew_before_from_expiry_is_kept():
    """Kills `(expires - now).total_seconds() < renew_before` -> `<=` in bootstrap_token (equality reissues)."""
    exp = int(NOW.timestamp()) + 600
    assert _reason(exp, 600) is None
    # An instant later the window has opened.
    assert _reason(exp, 600, NOW + ONE_MICROSECOND) == (
        'the existing token expires at %s, within the renew window' % (NOW + datetime.timedelta(seconds=600)).isoformat())


def test_a_token_whose_expiry_is_now_has_expired():
    """Kills `expires <= now` -> `expires < now` in bootstrap_token (with no renew window the token would be kept at
    the instant it expires; with one it would be reported as renewing rather than expired)."""
    exp = int(NOW.timestamp())
    assert _reason(exp, 0) == 'the existing token expired at %s' % NOW.isoformat()
    assert _reason(exp, 300) == 'the existing token expired at %s' % NOW.isoformat()
    assert _reason(exp, 0, NOW - ONE_MICROSECOND) is None
