"""Who is calling: the service account token of a CreateCertificate call (istiod's Kubernetes JWT authenticator,
a TokenReview with audience istio-ca) and the SPIFFE identity of an xDS stream's client certificate."""

from cryptography import x509

from lab.istio.istiod.kube import KubeError

CA_AUDIENCE = 'istio-ca'
_USER_PREFIX = 'system:serviceaccount:'


class AuthError(Exception):
    """Authentication failed; the message names the cause."""


def spiffe_id(trust_domain, namespace, service_account):
    return 'spiffe://%s/ns/%s/sa/%s' % (trust_domain, namespace, service_account)


def parse_spiffe_id(uri):
    """``spiffe://td/ns/N/sa/S`` -> (td, N, S), or None when ``uri`` is not such an identity."""
    if not uri.startswith('spiffe://'):
        return None
    parts = uri[len('spiffe://'):].split('/')
    if len(parts) != 5 or parts[1] != 'ns' or parts[3] != 'sa' or not all(parts):
        return None
    return parts[0], parts[2], parts[4]


class TokenAuthenticator:
    """Authenticates a bearer token the way istiod's KubeJWTAuthenticator does: against the cluster's API."""

    def __init__(self, kube, cluster_id, trust_domain):
        self.kube = kube
        self.cluster_id = cluster_id
        self.trust_domain = trust_domain

    def authenticate(self, metadata):
        """``metadata``: the call's gRPC metadata as a dict. Returns (namespace, service account, SPIFFE id)."""
        header = metadata.get('authorization')
        if not header:
            raise AuthError('no HTTP authorization header exists')
        if not header.startswith('Bearer ') or not header[len('Bearer '):].strip():
            raise AuthError('no bearer token exists in HTTP authorization header')
        claimed = metadata.get('clusterid')
        if claimed and claimed != self.cluster_id:
            raise AuthError('client claims to be in cluster "%s", but we only know about local cluster "%s"'
                            % (claimed, self.cluster_id))
        try:
            status = self.kube.review_token(header[len('Bearer '):].strip(), [CA_AUDIENCE])
        except KubeError as exc:
            raise AuthError('the service account authentication returns an error: %s' % exc) from None
        if not status.get('authenticated'):
            raise AuthError('the token is not authenticated: %s' % (status.get('error') or 'no reason given'))
        if CA_AUDIENCE not in (status.get('audiences') or []):
            raise AuthError('the token is not valid for audience %s' % CA_AUDIENCE)
        username = (status.get('user') or {}).get('username', '')
        parts = username[len(_USER_PREFIX):].split(':') if username.startswith(_USER_PREFIX) else []
        if len(parts) != 2 or not all(parts):
            raise AuthError('invalid username field in the token review result: %r' % username)
        namespace, account = parts
        return namespace, account, spiffe_id(self.trust_domain, namespace, account)


def certificate_identities(der):
    """The SPIFFE URIs in a client certificate (DER)."""
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [uri for uri in san.get_values_for_type(x509.UniformResourceIdentifier) if parse_spiffe_id(uri)]
