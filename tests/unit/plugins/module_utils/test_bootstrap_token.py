"""When the bootstrap token is kept and when it is reissued."""

import base64
import datetime
import json

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import bootstrap_token

NOW = datetime.datetime(2026, 11, 24, 21, 0, tzinfo=datetime.timezone.utc)


def jwt(**claims):
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b'=').decode()
    payload = {'sub': 'system:serviceaccount:default:pcs', 'aud': ['istio-ca'],
               'exp': int(NOW.timestamp()) + 3600}
    payload.update(claims)
    return '%s.%s.%s' % (part({'alg': 'RS256'}), part(payload), 'c2lnbmF0dXJl')


def reason(token, renew_before=600):
    return bootstrap_token.reissue_reason(token, 'default', 'pcs', renew_before, NOW)


def test_a_fresh_token_is_kept():
    assert reason(jwt()) is None
    assert bootstrap_token.expiry(bootstrap_token.claims(jwt())) == NOW + datetime.timedelta(hours=1)


def test_missing_expired_or_renewing_tokens_are_reissued():
    assert reason(None) == 'no token yet'
    assert 'expired' in reason(jwt(exp=int(NOW.timestamp()) - 1))
    assert 'renew window' in reason(jwt(exp=int(NOW.timestamp()) + 300))
    assert reason(jwt(exp=int(NOW.timestamp()) + 300), renew_before=60) is None


def test_tokens_for_something_else_are_reissued():
    assert 'system:serviceaccount:default:other' in reason(jwt(sub='system:serviceaccount:default:other'))
    assert 'audience' in reason(jwt(aud='kubernetes'))
    assert reason(jwt(aud='istio-ca')) is None


def test_unreadable_tokens_are_reissued():
    for token in ('', 'not-a-jwt', 'a.!!!.c', jwt(exp='tomorrow')):
        assert 'not a JWT' in reason(token)


@pytest.mark.parametrize('review, reason', [
    ({'authenticated': True, 'audiences': ['istio-ca'], 'user': {'username': 'system:serviceaccount:default:vm'}}, None),
    ({'authenticated': False, 'error': '[invalid bearer token, service account default/vm has been deleted]'},
     'the cluster does not accept the existing token ([invalid bearer token, service account default/vm has been deleted])'),
    ({'authenticated': True, 'audiences': ['istio-ca'], 'user': {'username': 'system:serviceaccount:default:other'}},
     'the cluster takes the existing token for system:serviceaccount:default:other'),
    ({'authenticated': True, 'audiences': [], 'user': {'username': 'system:serviceaccount:default:vm'}},
     'the cluster does not accept the existing token for audience istio-ca'),
])
def test_the_clusters_review_decides_last(review, reason):
    assert bootstrap_token.review_reason(review, 'default', 'vm') == reason
