"""A real control plane for a test: ``with running_control_plane(tmp_path) as cluster: ...``.

The handle is the ControlPlane: ``.url``, ``.ca_path``, ``.token`` (the lab admin's bearer token),
``.kubeconfig`` (context ``lab``), ``.api(method, path, body)``. Each one gets a prefix of its own, so a crashed
test's programs are found and stopped by ``lab.kubernetes.processes.stop_marked(session_prefix())``
(tests/conftest.py does it when the session ends).
"""

import base64
import contextlib
import json
import os
import secrets
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from lab.kubernetes.control_plane import ControlPlane
from lab.kubernetes.load_balancers import LoadBalancerController

SESSION_VARIABLE = 'MESHBRIDGE_TEST_SESSION'


def session_prefix():
    """The prefix of this test session's control planes: ``mbk-<session>-``, where the session is the pytest
    process that set SESSION_VARIABLE (xdist's workers inherit it), so two sessions never stop each other's."""
    return 'mbk-%s-' % os.environ.get(SESSION_VARIABLE, os.getpid())


@contextlib.contextmanager
def running_control_plane(state_dir, lb_range=None, **options):
    """Start a control plane (options go to ControlPlane; ``nodes=()`` for one where no pod can run); with
    ``lb_range``, LoadBalancer Services get addresses from it. Stop it and remove its files afterwards."""
    options.setdefault('prefix', session_prefix() + secrets.token_hex(3) + '-')
    plane = ControlPlane(str(state_dir), **options)
    plane.start()
    load_balancers = LoadBalancerController(plane.kubeconfig, lb_range).start() if lb_range else None
    try:
        yield plane
    finally:
        if load_balancers is not None:
            load_balancers.stop()
        plane.stop()


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()


def signed_service_account_token(plane, service_account, audiences, expires_in):
    """A token for ``service_account`` (a ServiceAccount object as the API returns it) signed with the cluster's
    own service-account key, with any lifetime: ``expires_in`` < 0 gives one that expired, which the API server's
    TokenRequest never hands out. The claims are those kube-apiserver puts in a bound token."""
    with open(os.path.join(plane.pki_dir, 'service-account-key.pem'), 'rb') as handle:
        key = serialization.load_pem_private_key(handle.read(), None)
    now = int(time.time())
    meta = service_account['metadata']
    claims = {'iss': plane.issuer, 'aud': list(audiences), 'iat': now, 'nbf': now, 'exp': now + expires_in,
              'sub': 'system:serviceaccount:%s:%s' % (meta['namespace'], meta['name']),
              'kubernetes.io': {'namespace': meta['namespace'],
                                'serviceaccount': {'name': meta['name'], 'uid': meta['uid']}}}
    public_der = key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(public_der)
    # kube-apiserver's key id: the unpadded URL-safe base64 of the SHA-256 of the DER public key.
    header = {'alg': 'RS256', 'kid': _b64(digest.finalize())}
    signing_input = _b64(json.dumps(header).encode()) + '.' + _b64(json.dumps(claims).encode())
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + '.' + _b64(signature)
