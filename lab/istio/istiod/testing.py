"""istiod for tests, on loopback against a real control plane (``lab.kubernetes.testing.running_control_plane``):

    with running_control_plane(tmp / 'kube') as kube:
        mesh = install_for_istiod(kube, str(tmp / 'ca'))          # CRDs, istio-system, istiod Deployment, cacerts
        with running_istiod(kube) as istiod:                      # istiod.address, istiod.root_pem
            ...

``install_for_istiod`` puts in the cluster what ``istioctl install`` with a plug-in CA would leave there for istiod
to read (the CRDs it needs are served when it returns; namespace istio-system may exist already, as it does
when the plug-in CA's ``cacerts`` went in first); tests that run the istioctl stand-in instead only need
``running_istiod``.
"""

import base64
import contextlib
import datetime
import os
import time

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lab.istio import crds
from lab.istio.istiod.kube import ISTIO_NAMESPACE, KubeApi, KubeError
from lab.istio.istiod.server import Istiod, loopback_socket

_NEEDED_CRDS = ('workloadgroups.networking.istio.io', 'workloadentries.networking.istio.io',
                'peerauthentications.security.istio.io')
_SERVED_TIMEOUT = 30


def kube_api(kube):
    """A KubeApi with the admin token of a control plane (anything with ``url``, ``ca_path``, ``token``)."""
    return KubeApi(kube.url, kube.ca_path, kube.token)


@contextlib.contextmanager
def running_istiod(kube, grace_seconds=0.5, policy_poll_seconds=0.2, log=None):
    """Start istiod for ``kube`` on 127.0.0.1 (an ephemeral port); yields the started Istiod."""
    istiod = Istiod(kube_api(kube), loopback_socket(), grace_seconds=grace_seconds,
                    policy_poll_seconds=policy_poll_seconds, log=log)
    try:
        istiod.start()
        yield istiod
    finally:
        istiod.stop()


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'Istio'),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca_cert(subject, key, issuer, issuer_key, path_length):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(issuer_key, hashes.SHA256()))


def plug_in_ca_files(directory, cluster='cluster1'):
    """A root and a cluster intermediate (ECDSA, fast), written as Istio's plug-in CA files; returns their paths."""
    os.makedirs(directory, exist_ok=True)
    root_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root = _ca_cert(_name('Root CA'), root_key, _name('Root CA'), root_key, None)
    intermediate = _ca_cert(_name('Intermediate CA %s' % cluster), key, root.subject, root_key, 0)
    pem = {
        'root-cert.pem': root.public_bytes(serialization.Encoding.PEM),
        'ca-cert.pem': intermediate.public_bytes(serialization.Encoding.PEM),
        'ca-key.pem': key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()),
    }
    pem['cert-chain.pem'] = pem['ca-cert.pem'] + pem['root-cert.pem']
    paths = {}
    for name, data in pem.items():
        paths[name] = os.path.join(directory, name)
        fd = os.open(paths[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
    return paths


def install_for_istiod(kube, ca_directory, cluster_id='cluster1', trust_domain='cluster.local', revision=''):
    """The objects istiod reads (see the module docstring); returns the plug-in CA file paths."""
    api = kube_api(kube)
    try:
        existing = {c['metadata']['name'] for c in api.items('/apis/apiextensions.k8s.io/v1/customresourcedefinitions')}
        for crd in crds.istio_crds():
            if crd['metadata']['name'] in _NEEDED_CRDS and crd['metadata']['name'] not in existing:
                api.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)
        _wait_served(api, _NEEDED_CRDS)
        if api.get('/api/v1/namespaces/%s' % ISTIO_NAMESPACE) is None:
            api.create('/api/v1/namespaces', {'metadata': {'name': ISTIO_NAMESPACE}})
        paths = plug_in_ca_files(ca_directory, cluster_id)
        data = {}
        for name, path in paths.items():
            with open(path, 'rb') as handle:
                data[name] = base64.b64encode(handle.read()).decode()
        api.create('/api/v1/namespaces/%s/secrets' % ISTIO_NAMESPACE,
                   {'metadata': {'name': 'cacerts'}, 'type': 'Opaque', 'data': data})
        suffix = '-' + revision if revision else ''
        api.create('/api/v1/namespaces/%s/configmaps' % ISTIO_NAMESPACE, {
            'metadata': {'name': 'istio' + suffix},
            'data': {'mesh': yaml.safe_dump({'trustDomain': trust_domain, 'rootNamespace': ISTIO_NAMESPACE})}})
        labels = {'app': 'istiod', 'istio': 'pilot'}
        api.create('/apis/apps/v1/namespaces/%s/deployments' % ISTIO_NAMESPACE, {
            'metadata': {'name': 'istiod' + suffix, 'labels': labels},
            'spec': {'replicas': 1, 'selector': {'matchLabels': labels}, 'template': {
                'metadata': {'labels': labels},
                'spec': {'containers': [{'name': 'discovery', 'image': 'docker.io/istio/pilot:1.24.2',
                                         'env': [{'name': 'CLUSTER_ID', 'value': cluster_id}]}]}}}})
    finally:
        api.close()
    return paths


def _wait_served(api, names, timeout=_SERVED_TIMEOUT):
    """Return once the API server serves the CRDs ``names``: condition Established, and a list of each served
    version answers (right after a CRD is established, its storage may still say 429 "storage is (re)initializing",
    which client-go retries after the Retry-After it comes with; this client does not)."""
    deadline = time.monotonic() + timeout
    while True:
        waiting = [name for name in names if not _served(api, name)]
        if not waiting:
            return
        if time.monotonic() >= deadline:
            raise KubeError(504, 'CRDs not served within %d s: %s' % (timeout, ', '.join(waiting)))
        time.sleep(0.1)


def _served(api, name):
    crd = api.get('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/' + name) or {}
    conditions = (crd.get('status') or {}).get('conditions') or []
    if not any(c.get('type') == 'Established' and c.get('status') == 'True' for c in conditions):
        return False
    spec = crd['spec']
    for version in spec['versions']:
        if not version.get('served'):
            continue
        try:
            api.get('/apis/%s/%s/%s' % (spec['group'], version['name'], spec['names']['plural']))
        except KubeError as exc:
            if exc.code in (429, 503):
                return False
            raise
    return True
