"""Google's side of a GKE API server: who a Google access token is (authentication) and what Google Cloud IAM lets
that account do in the cluster (authorization), as kube-apiserver webhooks
(``--authentication-token-webhook-config-file``, ``--authorization-webhook-config-file``).

GKE authorizes a request if either Kubernetes RBAC or the caller's IAM permissions allow it ("IAM and Kubernetes
RBAC work together", https://cloud.google.com/kubernetes-engine/docs/concepts/access-control). The lab's account
holds an IAM grant as narrow as the tutorial allows: the permissions to manage ClusterRoleBindings and to bind
ClusterRoles (``container.clusterRoleBindings.{get,create,update}``, ``container.clusterRoles.bind``; GKE maps
IAM permission ``container.<resource>.<verb>`` to the RBAC request of that verb and resource). Everything else
must come from RBAC: the binding ``gke_cluster`` makes (the tutorial's ``kubectl create clusterrolebinding
cluster-admin-binding --clusterrole=cluster-admin --user=...``) is what lets the playbook's user act at all.

Simplified: Google Groups for RBAC and IAM conditions are not modelled; the API server adds group
``system:authenticated`` itself.
"""

import http.server
import json
import urllib.parse

from lab.internet.tls import TLSServer

SERVER_NAME = 'localhost'
TOKEN_REVIEW_PATH = '/v1/tokenreview'
AUTHORIZE_PATH = '/v1/authorize'
# (API group, resource) -> verbs the lab account's IAM grant covers.
IAM_GRANT = {
    ('rbac.authorization.k8s.io', 'clusterrolebindings'): {'get', 'create', 'update', 'patch'},
    ('rbac.authorization.k8s.io', 'clusterroles'): {'bind'},
}


def iam_allows(attributes):
    """Whether the lab account's IAM grant covers ``spec.resourceAttributes`` of a SubjectAccessReview."""
    if not attributes:
        return False                    # non-resource URLs (/healthz, /version) come from RBAC's public roles
    verbs = IAM_GRANT.get((attributes.get('group', ''), attributes.get('resource', '')), set())
    return not attributes.get('subresource') and attributes.get('verb') in verbs


class _Handler(http.server.BaseHTTPRequestHandler):

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def do_POST(self):  # pylint: disable=invalid-name
        try:
            review = json.loads(self.rfile.read(int(self.headers.get('Content-Length') or 0)) or b'{}')
            spec = review['spec']
        except (ValueError, KeyError, TypeError):
            self.send_error(400, 'not a TokenReview or SubjectAccessReview')
            return
        path = urllib.parse.urlsplit(self.path).path       # the API server adds ?timeout=30s
        if path == TOKEN_REVIEW_PATH:
            status = self._authenticate(spec.get('token') or '')
        elif path == AUTHORIZE_PATH:
            status = self._authorize(spec)
        else:
            self.send_error(404)
            return
        body = json.dumps({'apiVersion': review.get('apiVersion'), 'kind': review.get('kind'),
                           'status': status}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authenticate(self, token):
        email = self.server.authority.identify(token)
        if email is None:
            return {'authenticated': False}
        return {'authenticated': True, 'user': {'username': email, 'groups': ['system:authenticated']}}

    def _authorize(self, spec):
        if spec.get('user') in self.server.authority.accounts() and iam_allows(spec.get('resourceAttributes')):
            return {'allowed': True, 'reason': 'IAM grant of %s' % spec['user']}
        # Not "denied": RBAC may still have allowed it before this webhook was asked.
        return {'allowed': False, 'reason': 'no IAM permission'}


class GkeWebhooks:
    """Both webhooks on loopback; ``config(path)`` gives an API server's kubeconfig for one of them."""

    def __init__(self, ca, authority):
        self._server = TLSServer(ca, 'gke-webhooks', [SERVER_NAME], _Handler)
        self._server.httpd.authority = authority
        address, port = self._server.backend
        self.base_url = 'https://%s:%d' % (address, port)
        self.ca_path = ca.cert_path

    def webhook(self, path):
        """``(url, ca_path, server_name)`` of one webhook, as lab.kubernetes.ControlPlane takes it."""
        return self.base_url + path, self.ca_path, SERVER_NAME

    def start(self):
        self._server.start()
        return self

    def stop(self):
        self._server.stop()
