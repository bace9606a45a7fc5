"""Service routing inside a lab cluster's network namespace: what kube-proxy and cluster DNS do for a connection to
a Service, and the route in-cluster clients take to the API server.

A connection to a Service's ClusterIP (or its name ``<service>.<namespace>.svc[.cluster.local]``) and port goes to
a ready endpoint of its EndpointSlices, at the endpoint's port for that Service port, as kube-proxy's rules send it.
The EndpointSlices are the real ones the endpoint-slice controller made from the pods KWOK runs; nothing listens at
a pod's address unless the lab runs a program for that pod (the istiod pods, lab.istio.istiod_pods), so other
connections are refused, as they would be by a pod with no container.
Simplified: the choice among ready endpoints is the first rather than kube-proxy's random one; session affinity,
topology hints, ``internalTrafficPolicy`` and named ``targetPort`` lookups through the pod are not modelled (the
EndpointSlice already carries the resolved port).

``ApiServerRoute`` is how the namespace reaches the control plane: GKE answers the ``kubernetes`` Service's
ClusterIP (443) with its control plane's endpoint; here a relay in the namespace at that address hands each
connection to the API server, which listens on the host's loopback.
"""

import ipaddress
import socket
import threading

from lab.internet.proxy import splice
from lab.kubernetes.client import KubeApi
from lab.net import netns

_NAME_SUFFIXES = ('.svc.cluster.local', '.svc')


class NoRoute(OSError):
    """Nothing in the cluster answers for that address and port."""


def _is_address(host):
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _service_name(host):
    """(namespace, name) for ``<name>.<namespace>.svc[.cluster.local]``, else None."""
    for suffix in _NAME_SUFFIXES:
        if host.endswith(suffix):
            parts = host[:-len(suffix)].split('.')
            if len(parts) == 2:
                return parts[1], parts[0]
    return None


class ServiceRouting:
    """Connections made inside network namespace ``netns_name`` of the cluster whose API is ``plane`` (anything
    with ``url``, ``ca_path``, ``token``)."""

    def __init__(self, plane, netns_name):
        self.api = KubeApi(plane.url, plane.ca_path, plane.token)
        self.netns_name = netns_name

    def _service(self, host):
        named = _service_name(host)
        if named is not None:
            return self.api.get('/api/v1/namespaces/%s/services/%s' % named)
        if not _is_address(host):
            return None
        for service in self.api.items('/api/v1/services'):
            if host in (service['spec'].get('clusterIPs') or [service['spec'].get('clusterIP')]):
                return service
        return None

    def resolve(self, host, port):
        """The (address, port) a connection to ``host:port`` reaches: a Service's endpoint, or ``host`` itself."""
        service = self._service(host)
        if service is None:
            if _is_address(host):
                return host, port
            raise NoRoute('%s does not resolve in the cluster' % host)
        meta = service['metadata']
        described = 'service %s/%s port %d' % (meta['namespace'], meta['name'], port)
        service_port = next((p for p in service['spec'].get('ports') or [] if p.get('port') == port), None)
        if service_port is None:
            raise NoRoute('%s: the service has no such port' % described)
        slices = self.api.items('/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices?labelSelector='
                                'kubernetes.io%%2Fservice-name%%3D%s' % (meta['namespace'], meta['name']))
        for endpoint_slice in slices:
            target = next((p.get('port') for p in endpoint_slice.get('ports') or []
                           if (p.get('name') or '') == (service_port.get('name') or '')), None)
            for endpoint in endpoint_slice.get('endpoints') or []:
                if target and (endpoint.get('conditions') or {}).get('ready', True):
                    return endpoint['addresses'][0], target
        raise NoRoute('%s has no ready endpoint' % described)

    def connect(self, host, port, timeout=5.0):
        """A TCP connection to ``host:port`` from inside the namespace, routed as above."""
        address, target = self.resolve(host, port)
        return netns.connect_tcp(self.netns_name, address, target, timeout=timeout)

    def close(self):
        self.api.close()


class TcpRelay:
    """Accepts TCP connections in network namespace ``netns_name`` at ``address:port`` and splices each with the
    connection ``connect()`` opens (None or an OSError: the client's connection is closed)."""

    def __init__(self, netns_name, address, port, connect, name='tcp-relay'):
        self.address = address
        self.port = port
        self._connect = connect
        self._listener = netns.listen_tcp(netns_name, address, port, backlog=64)
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _serve(self):
        while True:
            try:
                client, _peer = self._listener.accept()
            except OSError:
                return      # closed by stop()
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client):
        with client:
            try:
                upstream = self._connect()
            except OSError:
                return
            if upstream is None:
                return
            with upstream:
                upstream.settimeout(None)
                try:
                    splice(client, upstream)
                except OSError:
                    pass    # either side reset the connection: it is over

    def stop(self):
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        self._thread.join(timeout=5)


class ApiServerRoute(TcpRelay):
    """A relay in network namespace ``netns_name`` at ``address:443`` (the ``kubernetes`` Service's ClusterIP,
    held in the namespace by ``hold_address``) to the API server at ``upstream`` (host, port) on the host."""

    def __init__(self, netns_name, address, upstream, hold_address):
        hold_address(address)
        super().__init__(netns_name, address, 443, lambda: socket.create_connection(upstream, timeout=5),
                         'api-server-route')


class ServiceRelay(TcpRelay):
    """A Service's ClusterIP and port in network namespace ``netns_name`` (held there by ``hold_address``),
    relayed to a ready endpoint through ``connect(host, port)`` (ServiceRouting.connect): kube-proxy's old
    userspace mode, for the connections the lab's pods make that their sidecar does not capture."""

    def __init__(self, netns_name, address, port, connect, hold_address):
        hold_address(address)
        super().__init__(netns_name, address, port, lambda: connect(address, port), 'service-relay')
