"""A mesh certificate hierarchy and the lab's productcatalogservice serving over mutual TLS, as a VM's sidecar
presents it to mesh clients: the server's certificate names its workload by SPIFFE ID, and only clients with a
certificate from the same root get through."""

import contextlib
import datetime
import os

import grpc

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import certificates
from lab.workloads.productcatalog import stubs

TRUST_DOMAIN = 'cluster.local'


def _write(path, data, mode=0o644):
    with open(path, 'wb') as handle:
        handle.write(data)
    os.chmod(path, mode)


class MeshCA:
    """A root and a cluster intermediate in ``directory``, laid out as cert_issue writes them (``root/`` with
    root-cert.pem and root-key.pem, ``<cluster>/`` with the cacerts files)."""

    def __init__(self, directory, cluster='west'):
        now = datetime.datetime.now(datetime.timezone.utc)
        self._window = (now - datetime.timedelta(minutes=2), now + datetime.timedelta(days=1))
        self.root_key = certificates.generate_key('ecdsa-secp256r1')
        self.root_cert = certificates.issue(certificates.root_profile('Root CA', 'Istio', 'ecdsa-secp256r1'),
                                            self.root_key, *self._window)
        self.key = certificates.generate_key('ecdsa-secp256r1')
        profile = certificates.intermediate_profile('Intermediate CA', 'Istio', cluster, 'istiod.istio-system.svc',
                                                    'ecdsa-secp256r1')
        self.cert = certificates.issue(profile, self.key, *self._window, signer_cert=self.root_cert,
                                       signer_key=self.root_key)
        self.root_dir = os.path.join(str(directory), 'root')
        self.dir = os.path.join(str(directory), cluster)
        for path in (self.root_dir, self.dir):
            os.makedirs(path, mode=0o700)
        root_pem = certificates.certificate_pem(self.root_cert)
        _write(os.path.join(self.root_dir, 'root-cert.pem'), root_pem)
        _write(os.path.join(self.root_dir, 'root-key.pem'), certificates.private_key_pem(self.root_key), 0o600)
        _write(os.path.join(self.dir, 'ca-cert.pem'), certificates.certificate_pem(self.cert))
        _write(os.path.join(self.dir, 'ca-key.pem'), certificates.private_key_pem(self.key), 0o600)
        _write(os.path.join(self.dir, 'root-cert.pem'), root_pem)
        _write(os.path.join(self.dir, 'cert-chain.pem'), certificates.certificate_pem(self.cert) + root_pem)
        self.root_path = os.path.join(self.dir, 'root-cert.pem')

    @property
    def root_pem(self):
        return certificates.certificate_pem(self.root_cert)

    def workload(self, namespace, service_account):
        """(key PEM, chain PEM: leaf then intermediate) for spiffe://cluster.local/ns/<namespace>/sa/<sa>."""
        key = certificates.generate_key('ecdsa-secp256r1')
        uri = 'spiffe://%s/ns/%s/sa/%s' % (TRUST_DOMAIN, namespace, service_account)
        leaf = certificates.issue(certificates.workload_profile(uri, 'ecdsa-secp256r1'), key, *self._window,
                                  signer_cert=self.cert, signer_key=self.key)
        return certificates.private_key_pem(key), certificates.certificate_pem(leaf) + certificates.certificate_pem(self.cert)

    def write_workload(self, directory, namespace, service_account):
        """The workload's key.pem, cert-chain.pem and root-cert.pem in ``directory``; returns their paths."""
        os.makedirs(str(directory), mode=0o700, exist_ok=True)
        key, chain = self.workload(namespace, service_account)
        paths = {name: os.path.join(str(directory), name) for name in ('key.pem', 'cert-chain.pem', 'root-cert.pem')}
        _write(paths['key.pem'], key, 0o600)
        _write(paths['cert-chain.pem'], chain)
        _write(paths['root-cert.pem'], self.root_pem)
        return paths


@contextlib.contextmanager
def serving_catalog_mtls(ca, stubs_dir, namespace='default', service_account='productcatalogservice'):
    """The productcatalogservice on 127.0.0.1 (ephemeral port), requiring a client certificate from ``ca``'s root;
    yields the port."""
    stubs.load(str(stubs_dir))
    # Imported after the stubs exist: server.py imports them by top-level name.
    from lab.workloads.productcatalog import server  # pylint: disable=import-outside-toplevel
    key, chain = ca.workload(namespace, service_account)
    credentials = grpc.ssl_server_credentials([(key, chain)], root_certificates=ca.root_pem,
                                              require_client_auth=True)
    products = server.load_catalog(os.path.join(os.path.dirname(server.__file__), 'products.json'))
    running = grpc.server(server.futures.ThreadPoolExecutor(max_workers=4))
    server.productcatalog_pb2_grpc.add_ProductCatalogServiceServicer_to_server(server.ProductCatalog(products), running)
    port = running.add_secure_port('127.0.0.1:0', credentials)
    running.start()
    try:
        yield port
    finally:
        running.stop(0)
