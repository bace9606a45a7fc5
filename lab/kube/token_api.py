"""The authentication verbs: ``serviceaccounts/<name>/token`` (TokenRequest) and ``tokenreviews`` (TokenReview)."""

import jwt

from lab.kube import errors, tokens


def request_token(objects, issuer, namespace, name, body, default_audiences):
    """POST .../serviceaccounts/<name>/token: a TokenRequest with ``status.token`` filled in."""
    service_account = objects.find(objects.registry.by_key('', 'serviceaccounts'), namespace, name)
    if service_account is None:
        raise errors.not_found(objects.registry.by_key('', 'serviceaccounts'), name)
    if not isinstance(body, dict) or body.get('kind', 'TokenRequest') != 'TokenRequest':
        raise errors.bad_request('the body of the request was not a TokenRequest')
    spec = body.get('spec') or {}
    seconds = spec.get('expirationSeconds', tokens.DEFAULT_EXPIRATION_SECONDS)
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise errors.bad_request('TokenRequest in version "v1" cannot be handled as a TokenRequest: json: cannot '
                                 'unmarshal %s into Go struct field TokenRequestSpec.spec.expirationSeconds of type '
                                 'int64' % type(seconds).__name__)
    if seconds < tokens.MIN_EXPIRATION_SECONDS:
        raise errors.invalid('TokenRequest', 'authentication.k8s.io', name, [errors.invalid_value(
            'spec.expirationSeconds', seconds, 'may not specify a duration less than 10 minutes')])
    seconds = min(seconds, tokens.MAX_EXPIRATION_SECONDS)
    audiences = spec.get('audiences') or list(default_audiences)
    bound = spec.get('boundObjectRef')
    token, expires = issuer.issue(service_account, audiences, seconds, bound)
    return {'kind': 'TokenRequest', 'apiVersion': 'authentication.k8s.io/v1',
            'metadata': {'name': name, 'namespace': namespace, 'creationTimestamp': None},
            'spec': {'audiences': audiences, 'expirationSeconds': seconds, 'boundObjectRef': bound},
            'status': {'token': token, 'expirationTimestamp': expires.strftime('%Y-%m-%dT%H:%M:%SZ')}}


def review_token(objects, issuer, body, default_audiences):
    """POST tokenreviews: whether a service account token is valid for the audiences asked (default: the server's),
    and whether its service account still exists with the same uid."""
    spec = (body or {}).get('spec') or {}
    if not spec.get('token'):
        raise errors.invalid('TokenReview', 'authentication.k8s.io', '', [errors.required('spec.token')])
    audiences = spec.get('audiences') or list(default_audiences)
    status = {'authenticated': False, 'user': {}}
    try:
        claims = issuer.verify(spec['token'], audiences=audiences)
    except jwt.PyJWTError as exc:
        status['error'] = '[invalid bearer token, %s]' % exc
    else:
        private = claims['kubernetes.io']
        account = objects.find(objects.registry.by_key('', 'serviceaccounts'), private['namespace'],
                               private['serviceaccount']['name'])
        if account is None or account['metadata']['uid'] != private['serviceaccount']['uid']:
            status['error'] = '[invalid bearer token, service account %s/%s has been deleted]' % (
                private['namespace'], private['serviceaccount']['name'])
        else:
            granted = claims['aud'] if isinstance(claims['aud'], list) else [claims['aud']]
            status = {'authenticated': True, 'audiences': [a for a in audiences if a in granted], 'user': {
                'username': claims['sub'], 'uid': private['serviceaccount']['uid'],
                'groups': ['system:serviceaccounts', 'system:serviceaccounts:' + private['namespace'],
                           'system:authenticated']}}
    return {'kind': 'TokenReview', 'apiVersion': 'authentication.k8s.io/v1',
            'metadata': {'creationTimestamp': None}, 'spec': spec, 'status': status}
