"""The VM agent's side of istiod's VM-facing protocol: certificate signing and the xDS stream.

Needs only grpcio, protobuf, the standard library and the stubs generated from ``lab/istio/proto``
(``lab.istio.proto.stubs.generate``) on ``sys.path``, so it can ship inside the sidecar package next to them.

Names are resolved here with getaddrinfo (the VM's /etc/hosts), not by gRPC's resolver, so "cannot resolve" is
told apart from "unreachable"; TLS still verifies istiod's certificate for the host name of the address.
"""

import queue
import socket
import threading

import grpc
from google.protobuf import any_pb2, json_format, struct_pb2
from google.rpc import status_pb2

import envoy_core_pb2
import envoy_discovery_pb2
import envoy_discovery_pb2_grpc
import istio_ca_pb2
import istio_ca_pb2_grpc

# The lab's stand-in for the listener configuration istiod pushes: one Struct with the inbound mTLS mode.
POLICY_TYPE_URL = 'type.googleapis.com/google.protobuf.Struct'
POLICY_RESOURCE = 'meshbridge.lab/inbound-policy'
# What Istio's agent sends as health reports (pilot/pkg/xds HealthInfoTypeURL); error_detail set = unhealthy.
HEALTH_TYPE_URL = 'istio.io/health'
_UNHEALTHY_CODE = 500
DEFAULT_TIMEOUT = 10.0
# How BoringSSL (inside grpcio) reports a server certificate that the given root does not sign.
_VERIFY_FAILURES = ('CERTIFICATE_VERIFY_FAILED', 'certificate signature failure', 'unable to get local issuer',
                    'self-signed certificate', 'self signed certificate')


class MeshClientError(Exception):
    """Talking to istiod failed; the message says why in words an operator can act on."""


def _split_address(address):
    host, sep, port = address.rpartition(':')
    if not sep or not host or not port.isdigit():
        raise MeshClientError('istiod address %r is not HOST:PORT' % address)
    return host.strip('[]'), int(port)


def _resolve(address):
    """``HOST:PORT`` -> ``IP:PORT`` through getaddrinfo (the VM's /etc/hosts)."""
    host, port = _split_address(address)
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise MeshClientError('cannot resolve %s: %s (no /etc/hosts entry or DNS record)' % (host, exc.strerror)) from exc
    return host, '%s:%d' % (infos[0][4][0], port)


def _channel(address, server_name, root_pem, cert_chain_pem=None, key_pem=None):
    host, target = _resolve(address)
    credentials = grpc.ssl_channel_credentials(root_certificates=_bytes(root_pem), private_key=_bytes(key_pem),
                                               certificate_chain=_bytes(cert_chain_pem))
    name = server_name or host
    options = [('grpc.ssl_target_name_override', name), ('grpc.default_authority', name)]
    return grpc.secure_channel(target, credentials, options=options)


def _bytes(text):
    if text is None or isinstance(text, bytes):
        return text
    return text.encode()


def _explain(error, address, server_name):
    """A readable cause for a failed RPC."""
    code, details = error.code(), error.details() or ''
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return 'istiod rejected the token: %s' % details
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return 'istiod rejected the request: %s' % details
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return 'istiod refused: %s' % details
    if any(marker in details for marker in _VERIFY_FAILURES):
        return ('TLS to istiod failed: certificate verify failed (root-cert.pem does not sign istiod\'s certificate '
                'at %s)' % address)
    if 'Peer name' in details or 'not in peer certificate' in details:
        return 'TLS to istiod failed: its certificate is not valid for %s (%s)' % (server_name, details)
    if 'handshake' in details.lower() or 'ssl' in details.lower():
        return 'TLS to istiod failed: %s' % details
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return 'istiod at %s unreachable: %s' % (address, details)
    return 'istiod call failed (%s): %s' % (code.name, details)


def create_certificate(ca_address, server_name, root_pem, token, csr_pem, cluster_id, validity_seconds=86400,
                       timeout=DEFAULT_TIMEOUT):
    """Ask istiod's CA to sign ``csr_pem``; returns the PEM chain (leaf first, root last).

    ``ca_address`` is ``HOST:PORT``; ``server_name`` the name istiod's certificate must carry (default: HOST);
    ``token`` the service account token (audience istio-ca); ``cluster_id`` what the agent sends as ClusterID.
    """
    request = istio_ca_pb2.IstioCertificateRequest(csr=csr_pem if isinstance(csr_pem, str) else csr_pem.decode(),
                                                   validity_duration=int(validity_seconds))
    # gRPC metadata keys are lower case on the wire; Istio's agent sends "ClusterID", istiod reads "clusterid".
    metadata = [('authorization', 'Bearer ' + token.strip()), ('clusterid', cluster_id or '')]
    channel = _channel(ca_address, server_name, root_pem)
    try:
        stub = istio_ca_pb2_grpc.IstioCertificateServiceStub(channel)
        response = stub.CreateCertificate(request, metadata=metadata, timeout=timeout)
    except grpc.RpcError as exc:
        raise MeshClientError(_explain(exc, ca_address, server_name)) from None
    finally:
        channel.close()
    if not response.cert_chain:
        raise MeshClientError('istiod returned an empty certificate chain')
    return list(response.cert_chain)


def _struct(mapping):
    message = struct_pb2.Struct()
    message.update(mapping)
    return message


class XdsSession:
    """An ADS stream to istiod over mTLS with the workload certificate.

    ``start()`` sends the node and returns the first policy (e.g. ``{'mtls_mode': 'STRICT'}``);
    ``report_health`` sends a health report; ``broken`` is an Event set when the stream ends (``error`` says why),
    so the agent can reconnect; ``policy`` holds the latest pushed policy; ``close()`` ends the stream.
    """

    def __init__(self, address, server_name, root_pem, cert_chain_pem, key_pem, node_id, metadata,
                 timeout=DEFAULT_TIMEOUT):
        self.address = address
        self.server_name = server_name
        self._root_pem, self._cert_chain_pem, self._key_pem = root_pem, cert_chain_pem, key_pem
        self.node = envoy_core_pb2.Node(id=node_id, cluster=metadata.get('WORKLOAD_NAME', ''),
                                        metadata=_struct(metadata))
        self.timeout = timeout
        self.policy = None
        self.error = None
        self.broken = threading.Event()
        self._requests = queue.Queue()
        self._first = queue.Queue()
        self._channel = None
        self._call = None
        self._reader = None
        self._closing = False

    def _outgoing(self):
        while True:
            request = self._requests.get()
            if request is None:
                return
            yield request

    def start(self):
        self._channel = _channel(self.address, self.server_name, self._root_pem, self._cert_chain_pem, self._key_pem)
        stub = envoy_discovery_pb2_grpc.AggregatedDiscoveryServiceStub(self._channel)
        self._requests.put(envoy_discovery_pb2.DiscoveryRequest(node=self.node, type_url=POLICY_TYPE_URL,
                                                                resource_names=[POLICY_RESOURCE]))
        self._call = stub.StreamAggregatedResources(self._outgoing())
        self._reader = threading.Thread(target=self._read, name='xds-reader', daemon=True)
        self._reader.start()
        try:
            outcome = self._first.get(timeout=self.timeout)
        except queue.Empty:
            self.close()
            raise MeshClientError('istiod at %s sent no configuration within %g s' % (self.address, self.timeout)) from None
        if isinstance(outcome, MeshClientError):
            self.close()
            raise outcome
        return outcome

    def _read(self):
        try:
            for response in self._call:
                self.policy = self._policy(response)
                self._first.put(self.policy)
                # ACK, as Envoy does: the version and nonce of what it applied.
                self._requests.put(envoy_discovery_pb2.DiscoveryRequest(
                    type_url=response.type_url, version_info=response.version_info, response_nonce=response.nonce,
                    resource_names=[POLICY_RESOURCE]))
            self.error = 'istiod closed the xDS stream'
        except grpc.RpcError as exc:
            if self._closing:
                self.error = 'closed by the agent'
            else:
                self.error = _explain(exc, self.address, self.server_name)
        self._first.put(MeshClientError(self.error))
        self.broken.set()

    @staticmethod
    def _policy(response):
        for resource in response.resources:
            message = struct_pb2.Struct()
            if isinstance(resource, any_pb2.Any) and resource.Unpack(message):
                return json_format.MessageToDict(message)
        return {}

    def report_health(self, healthy, message=None):
        """Tell istiod the workload's readiness, as Istio's agent does after each probe change."""
        if self.broken.is_set():
            raise MeshClientError('the xDS stream is down: %s' % self.error)
        request = envoy_discovery_pb2.DiscoveryRequest(type_url=HEALTH_TYPE_URL)
        if not healthy:
            request.error_detail.CopyFrom(status_pb2.Status(code=_UNHEALTHY_CODE, message=message or 'unhealthy'))
        self._requests.put(request)

    def close(self):
        self._closing = True
        self._requests.put(None)
        if self._call is not None:
            self._call.cancel()
        if self._channel is not None:
            self._channel.close()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=self.timeout)
