"""The lab's istiod end: CreateCertificate and the ADS stream on one TLS port, for one cluster.

What it reads from the cluster at start, as istiod reads it: the istiod Deployments in istio-system (revisions,
CLUSTER_ID), the mesh config in ConfigMap ``istio[-<rev>]`` (trustDomain, rootNamespace) and the CA's signing
material (ca.py). Simplified: read once at start; a changed secret or mesh config needs a restart, as a real
istiod without automatic plug-in certificate reload does.
"""

import datetime
import queue
import socket
import threading
import uuid
from concurrent import futures

import grpc
import yaml
from google.protobuf import any_pb2, json_format, struct_pb2

from lab.istio.istiod import ca as ca_module
from lab.istio.istiod import policy
from lab.istio.istiod.auth import AuthError, TokenAuthenticator, certificate_identities, parse_spiffe_id
from lab.istio.istiod.front import TlsFront
from lab.istio.istiod.kube import ISTIO_NAMESPACE, KubeError
from lab.istio.istiod.registration import DEFAULT_GRACE_SECONDS, Proxy, RegistrationError, WorkloadEntries
from lab.istio.proto import stubs

PORT = 15012
DEFAULT_CLUSTER_ID = 'Kubernetes'
# How often a stream re-reads PeerAuthentications to push a changed mode (istiod pushes on change events).
DEFAULT_POLICY_POLL_SECONDS = 2.0
_PROXY_TYPES = ('sidecar', 'router')


class StartError(Exception):
    """istiod cannot serve this cluster yet (no Deployment, no CA); the message says what is missing."""


def istiod_deployments(kube):
    return sorted(d['metadata']['name'] for d in kube.items('/apis/apps/v1/namespaces/%s/deployments' % ISTIO_NAMESPACE)
                  if d['metadata']['name'] == 'istiod' or d['metadata']['name'].startswith('istiod-'))


class ClusterSettings:
    """What istiod takes from its cluster: identity of the cluster and mesh, and its own host names."""

    def __init__(self, kube):
        names = istiod_deployments(kube)
        if not names:
            raise StartError('no istiod Deployment in namespace %s' % ISTIO_NAMESPACE)
        primary = 'istiod' if 'istiod' in names else names[0]
        deployment = kube.get('/apis/apps/v1/namespaces/%s/deployments/%s' % (ISTIO_NAMESPACE, primary))
        containers = deployment['spec']['template']['spec'].get('containers') or [{}]
        env = {item['name']: item.get('value', '') for item in containers[0].get('env') or []}
        self.cluster_id = env.get('CLUSTER_ID') or DEFAULT_CLUSTER_ID
        self.instance_id = '%s-lab' % primary
        config_map = kube.get('/api/v1/namespaces/%s/configmaps/istio%s' % (ISTIO_NAMESPACE, primary[len('istiod'):]))
        mesh = yaml.safe_load(((config_map or {}).get('data') or {}).get('mesh') or '') or {}
        self.trust_domain = mesh.get('trustDomain') or 'cluster.local'
        self.root_namespace = mesh.get('rootNamespace') or ISTIO_NAMESPACE
        self.dns_names = sorted({'istiod.%s.svc' % ISTIO_NAMESPACE} | {'%s.%s.svc' % (n, ISTIO_NAMESPACE) for n in names})


def loopback_socket(port=0):
    """A listening socket on 127.0.0.1 (port 0: an ephemeral one), for tests."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(('127.0.0.1', port))
    sock.listen(64)
    return sock


def _status_code(name):
    return getattr(grpc.StatusCode, name, grpc.StatusCode.UNKNOWN)


class _CertificateService:
    """istio.v1.auth.IstioCertificateService."""

    def __init__(self, istiod):
        self._istiod = istiod

    def CreateCertificate(self, request, context):  # noqa: N802 (the generated servicer's naming)
        try:
            _namespace, _account, identity = self._istiod.authenticator.authenticate(dict(context.invocation_metadata()))
        except AuthError as exc:
            # A real istiod answers only "request authenticate failure" and logs the cause; the lab says it too.
            context.abort(grpc.StatusCode.UNAUTHENTICATED, 'request authenticate failure: %s' % exc)
        try:
            chain = self._istiod.ca.sign_workload(request.csr, identity, request.validity_duration)
        except ca_module.CsrError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, 'CSR signing error: %s' % exc)
        return self._istiod.pb['istio_ca_pb2'].IstioCertificateResponse(cert_chain=chain)


class _DiscoveryService:
    """envoy.service.discovery.v3.AggregatedDiscoveryService, reduced to what a VM's agent needs from it."""

    def __init__(self, istiod):
        self._istiod = istiod

    def _identities(self, context):
        port = int(context.peer().rsplit(':', 1)[1])
        der = self._istiod.front.peer_certificate(port)
        return certificate_identities(der) if der else []

    def _proxy(self, node, context):
        """The connecting proxy, its claims checked against its certificate (istiod's checkConnectionIdentity)."""
        identities = self._identities(context)
        if not identities:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, 'authentication failure: the stream presented no client '
                          'certificate with a SPIFFE identity')
        parts = node.id.split('~')
        if len(parts) != 4 or parts[0] not in _PROXY_TYPES:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, 'invalid node id %r: want TYPE~IP~ID~DOMAIN' % node.id)
        metadata = json_format.MessageToDict(node.metadata)
        namespace, account = metadata.get('NAMESPACE', ''), metadata.get('SERVICE_ACCOUNT', '')
        for uri in identities:
            _domain, id_namespace, id_account = parse_spiffe_id(uri)
            if (not namespace or id_namespace == namespace) and (not account or id_account == account):
                return Proxy(node.id, id_namespace, id_account, metadata)
        context.abort(grpc.StatusCode.PERMISSION_DENIED, 'authorization failed: no identities (%s) matched %s/%s' % (
            identities, namespace, account))
        return None

    def StreamAggregatedResources(self, request_iterator, context):  # noqa: N802 (the generated servicer's naming)
        istiod = self._istiod
        connected_at = datetime.datetime.now(datetime.timezone.utc)
        first = next(request_iterator, None)
        if first is None or not first.node.id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, 'missing node information')
        proxy = self._proxy(first.node, context)
        try:
            entry = istiod.registrations.connect(proxy, connected_at)
        except RegistrationError as exc:
            context.abort(_status_code(exc.code), str(exc))
        if entry:
            context.add_callback(lambda: istiod.after_disconnect(proxy, entry, connected_at))
        incoming = queue.Queue()
        threading.Thread(target=self._read, args=(request_iterator, incoming), name='ads-reader', daemon=True).start()
        version, mode = 1, self._mode(proxy, entry)
        yield self._response(first.type_url, version, mode)
        while context.is_active():
            try:
                request = incoming.get(timeout=istiod.policy_poll_seconds)
            except queue.Empty:
                current = self._mode(proxy, entry)
                if current != mode:
                    version, mode = version + 1, current
                    yield self._response(first.type_url, version, mode)
                continue
            if request is None:
                return
            if request.type_url == istiod.mesh_client.HEALTH_TYPE_URL and entry:
                healthy = not request.HasField('error_detail')
                try:
                    if not istiod.registrations.report_health(proxy, entry, healthy, request.error_detail.message):
                        istiod.log('istiod: health report of %s/%s ignored: health checks are not enabled for it' % (
                            proxy.namespace, entry))
                except KubeError as exc:
                    # Logged, not retried (istiod's health controller retries a few times); the stream goes on.
                    istiod.log('istiod: health of %s/%s not recorded: %s' % (proxy.namespace, entry, exc))

    @staticmethod
    def _read(request_iterator, incoming):
        try:
            for request in request_iterator:
                incoming.put(request)
        except grpc.RpcError:
            pass                # the stream ended: the writer side notices through None
        incoming.put(None)

    def _mode(self, proxy, entry):
        istiod = self._istiod
        labels = proxy.labels
        if entry:
            registered = istiod.kube.get('/apis/networking.istio.io/v1/namespaces/%s/workloadentries/%s' % (
                proxy.namespace, entry))
            labels = ((registered or {}).get('metadata') or {}).get('labels') or labels
        return policy.mtls_mode(istiod.kube, istiod.settings.root_namespace, proxy.namespace, labels)

    def _response(self, type_url, version, mode):
        pb = self._istiod.pb
        resource = any_pb2.Any()
        resource.Pack(struct_pb2.Struct(fields={'mtls_mode': struct_pb2.Value(string_value=mode)}))
        return pb['envoy_discovery_pb2'].DiscoveryResponse(version_info=str(version), resources=[resource],
                                                           type_url=type_url or self._istiod.mesh_client.POLICY_TYPE_URL,
                                                           nonce=uuid.uuid4().hex)


class Istiod:
    """istiod's VM-facing end for the cluster behind ``kube`` (a KubeApi), serving on ``listen_socket``.

    ``start()`` raises StartError or ca.CaError when the cluster does not have what istiod needs yet.
    """

    def __init__(self, kube, listen_socket, grace_seconds=DEFAULT_GRACE_SECONDS,
                 policy_poll_seconds=DEFAULT_POLICY_POLL_SECONDS, log=None):
        self.kube = kube
        self.pb = stubs.load()
        self.mesh_client = self.pb['mesh_client']
        self.grace_seconds = grace_seconds
        self.policy_poll_seconds = policy_poll_seconds
        self.log = log or (lambda message: None)
        self._socket = listen_socket
        host, port = listen_socket.getsockname()[:2]
        self.address = '%s:%d' % (host, port)
        self.settings = self.ca = self.authenticator = self.registrations = self.front = None
        self._grpc = None

    def after_disconnect(self, proxy, entry, connected_at):
        """Runs on gRPC's thread when a registered stream ends; failures are logged, there is no caller to tell."""
        try:
            self.registrations.disconnect(proxy, entry, connected_at)
        except Exception as exc:  # pylint: disable=broad-exception-caught  # a callback: nobody above would see it
            self.log('istiod: disconnect of %s/%s: %s' % (proxy.namespace, entry, exc))

    @property
    def root_pem(self):
        return self.ca.root_pem

    def start(self):
        self.settings = ClusterSettings(self.kube)
        try:
            self.ca = ca_module.load(self.kube)
        except ca_module.CaError as exc:
            raise StartError(str(exc)) from None
        self.authenticator = TokenAuthenticator(self.kube, self.settings.cluster_id, self.settings.trust_domain)
        self.registrations = WorkloadEntries(self.kube, self.settings.instance_id, self.grace_seconds)
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix='istiod'))
        self.pb['istio_ca_pb2_grpc'].add_IstioCertificateServiceServicer_to_server(_CertificateService(self), self._grpc)
        self.pb['envoy_discovery_pb2_grpc'].add_AggregatedDiscoveryServiceServicer_to_server(
            _DiscoveryService(self), self._grpc)
        backend_port = self._grpc.add_insecure_port('127.0.0.1:0')
        self._grpc.start()
        chain, key = self.ca.serving_cert(self.settings.dns_names)
        self.front = TlsFront(self._socket, backend_port, chain, key, self.ca.root_pem, log=self.log)
        self.front.start()
        self.log('istiod: serving %s on %s, signing with secret %s/%s' % (
            ', '.join(self.settings.dns_names), self.address, ISTIO_NAMESPACE, self.ca.source))
        return self

    def stop(self):
        if self.front is not None:
            self.front.stop()
        else:
            self._socket.close()
        if self._grpc is not None:
            self._grpc.stop(grace=1).wait(5)
        if self.registrations is not None:
            self.registrations.stop()
        self.kube.close()
