"""The inbound mTLS mode of a workload, from PeerAuthentication objects as istiod resolves it.

Most specific wins: a policy in the workload's namespace whose selector matches its labels, else the namespace's
policy without selector, else the mesh-wide one (root namespace, no selector), else PERMISSIVE. ``UNSET`` (or no
``mtls``) inherits from the next level up; among several at one level the oldest counts.
Simplified: ``portLevelMtls`` is not resolved (the lab's stream carries one mode per workload).
"""

from lab.istio.istiod.kube import SECURITY

DEFAULT_MODE = 'PERMISSIVE'


def _oldest_first(policies):
    return sorted(policies, key=lambda p: (p['metadata'].get('creationTimestamp', ''), p['metadata']['name']))


def _mode(policy):
    return ((policy.get('spec') or {}).get('mtls') or {}).get('mode') or 'UNSET'


def _matches(policy, labels):
    wanted = ((policy.get('spec') or {}).get('selector') or {}).get('matchLabels') or {}
    return all(labels.get(key) == value for key, value in wanted.items())


def _has_selector(policy):
    return bool(((policy.get('spec') or {}).get('selector') or {}).get('matchLabels'))


def mtls_mode(kube, root_namespace, namespace, labels):
    """``STRICT``, ``PERMISSIVE`` or ``DISABLE`` for a workload in ``namespace`` with ``labels``."""
    local = _oldest_first(kube.items('%s/namespaces/%s/peerauthentications' % (SECURITY, namespace)))
    mesh = _oldest_first(kube.items('%s/namespaces/%s/peerauthentications' % (SECURITY, root_namespace)))
    levels = [
        [p for p in local if _has_selector(p) and _matches(p, labels)],
        [p for p in local if not _has_selector(p)],
        [p for p in mesh if not _has_selector(p)],
    ]
    for candidates in levels:
        if candidates and _mode(candidates[0]) != 'UNSET':
            return _mode(candidates[0])
    return DEFAULT_MODE
