"""Istio for tests:

- ``with serving_releases(tmp) as served: ...``: the lab's Istio release (lab.istio.release) over loopback HTTP,
  laid out as the download site is (``<served>/<version>/istio-<version>-linux-amd64.tar.gz``);
- ``with running_cluster_istio(tmp, network) as (plane, istio): ...``: a real control plane whose istiod pods run
  the real istiod and whose east-west gateway passes through, in a lab cluster network (lab.net.vpc), as
  lab.world wires a GKE cluster; ``istioctl(plane, ...)`` runs the real istioctl against it;
- ``plug_in_ca_files(directory)``: a root and an intermediate written as Istio's plug-in CA files.
"""

import contextlib
import datetime
import functools
import os
import secrets
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lab.istio import release
from lab.istio.cluster import ClusterIstio
from lab.kubernetes import binaries
from lab.kubernetes.load_balancers import LoadBalancerController
from lab.kubernetes.testing import running_control_plane, session_prefix


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the tests read results, not access logs
        pass


@contextlib.contextmanager
def serving_releases(directory, versions=(release.RELEASE,)):
    """Build ``versions`` under ``directory`` and serve it on 127.0.0.1 (an ephemeral port); yield the base URL.

    The handle's ``requests`` list records the paths asked for, so a test can tell whether a download happened.
    """
    release.build_tree(str(directory), versions)
    requests = []

    class Handler(_QuietHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            requests.append(self.path)
            super().do_GET()

    server = ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Handler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)  # shutdown() waits one poll
    thread.start()
    try:
        yield _Served('http://127.0.0.1:%d' % server.server_address[1], requests)
    finally:
        server.shutdown()
        server.server_close()


class _Served(str):
    """The base URL (a str), with the request log attached."""

    def __new__(cls, url, requests):
        served = super().__new__(cls, url)
        served.requests = requests
        return served


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


@contextlib.contextmanager
def running_cluster_istio(state_dir, network, lb_range='10.168.8.0/27'):
    """Yield (plane, istio) for a cluster in ``network`` (a lab.net ClusterNetwork); everything stopped after."""
    routes = {}

    def egress(host, port):
        return routes['istio'].routing.connect(host, port)

    with running_control_plane(os.path.join(str(state_dir), 'kube'), egress_connect=egress) as plane:
        istio = routes['istio'] = ClusterIstio(plane, network, os.path.join(str(state_dir), 'istio'),
                                               session_prefix() + secrets.token_hex(3) + '-')
        load_balancers = LoadBalancerController(plane.kubeconfig, lb_range, network.add_lb_address,
                                                network.remove_lb_address).start()
        try:
            istio.start()
            yield plane, istio
        finally:
            istio.stop()
            load_balancers.stop()
            for address in network.lb_addresses():
                network.remove_lb_address(address)


def istioctl(plane, *args, stdin=None, timeout=300):
    """Run the real istioctl against ``plane``; the CompletedProcess (text)."""
    return subprocess.run([binaries.path('istioctl'), '--kubeconfig', plane.kubeconfig, *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout, check=False)


def istioctl_install(plane, operator, timeout=300):
    """``istioctl install -y -f -`` of ``operator`` (a dict); the CompletedProcess."""
    return istioctl(plane, 'install', '-y', '-f', '-', stdin=yaml.safe_dump(operator), timeout=timeout)


def istio_crds():
    """Istio's CustomResourceDefinitions as its release installs them (the module's ``crd-all.gen.yaml``)."""
    path = os.path.join(binaries.module_source(release.MODULE), 'manifests', 'charts', 'base', 'files',
                        'crd-all.gen.yaml')
    with open(path, encoding='utf-8') as handle:
        return [crd for crd in yaml.safe_load_all(handle) if crd]
