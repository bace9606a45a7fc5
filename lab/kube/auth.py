"""Who is asking: bearer-token authentication. An authenticator is any callable taking the token and returning a
user dict (``username``, ``groups``) or None; the GCP stand-in plugs in one that accepts its OAuth access tokens.

Authorization is not modelled: every authenticated user may do everything (as the cluster-admin binding the
collection creates grants its own user). Service accounts authenticate but RBAC is not enforced on them.
"""

import hmac

import jwt

ADMIN_USER = {'username': 'admin', 'groups': ['system:masters', 'system:authenticated']}


class StaticTokenAuthenticator:
    """The admin token from the kubeconfig."""

    def __init__(self, token, user=None):
        self._token = token
        self._user = user or ADMIN_USER

    def __call__(self, token):
        return dict(self._user) if hmac.compare_digest(token, self._token) else None


class ServiceAccountAuthenticator:
    """Tokens issued by this server's TokenRequest subresource, for any of ``audiences``, whose service account
    still exists (``account_uid(namespace, name)`` gives its uid, or None)."""

    def __init__(self, issuer, audiences, account_uid):
        self._issuer = issuer
        self._audiences = audiences
        self._account_uid = account_uid

    def __call__(self, token):
        try:
            claims = self._issuer.verify(token, audiences=self._audiences)
        except jwt.PyJWTError:
            return None
        account = claims['kubernetes.io']['serviceaccount']
        if self._account_uid(claims['kubernetes.io']['namespace'], account['name']) != account['uid']:
            return None
        namespace = claims['kubernetes.io']['namespace']
        return {'username': claims['sub'], 'uid': claims['kubernetes.io']['serviceaccount']['uid'],
                'groups': ['system:serviceaccounts', 'system:serviceaccounts:' + namespace, 'system:authenticated']}


class AnyOf:
    """The first authenticator that knows the token wins."""

    def __init__(self, *authenticators):
        self.authenticators = list(authenticators)

    def __call__(self, token):
        for authenticator in self.authenticators:
            user = authenticator(token)
            if user:
                return user
        return None
