"""The API server's way into the cluster network: its ``cluster`` egress (admission webhooks, kubelet and
service proxy calls) goes through an HTTP CONNECT proxy on a Unix socket, as GKE sends it through Konnectivity.

The API server itself runs on the host, whose default route leads off this machine; without this, a webhook call
to a ClusterIP would leave through it. Here every such connection is made by ``connect(host, port)``: in the
assembled lab from inside the cluster's network namespace (which has no default route), in tests nowhere at all.
Simplified: Konnectivity's gRPC mode and its agents are not modelled; HTTPConnect over a Unix socket is one of
the transports the API server's EgressSelectorConfiguration offers for the same purpose.
"""

import glob
import json
import logging
import os
import socketserver
import tempfile
import threading

from lab.internet.proxy import read_head, split_authority, tunnel

LOG = logging.getLogger('lab.kubernetes.egress')


def socket_path(prefix, unique):
    """Where a control plane of lab ``prefix`` puts its egress socket: the temporary directory, since a Unix socket
    path has at most 107 bytes, more than a test's state directory may leave; the name carries the prefix so that
    ``remove_sockets(prefix)`` finds it after a crash."""
    return os.path.join(tempfile.gettempdir(), '%s%s-egress.sock' % (prefix, unique))


def remove_sockets(prefix):
    """Remove the egress sockets of every control plane whose prefix starts with ``prefix``."""
    for leftover in glob.glob(os.path.join(tempfile.gettempdir(), glob.escape(prefix) + '*-egress.sock')):
        os.unlink(leftover)


def refuse_all(host, port):
    raise OSError('the lab cluster has no network for %s:%d' % (host, port))


class _Handler(socketserver.BaseRequestHandler):

    def handle(self):
        client = self.request
        try:
            head, early_data = read_head(client)
            method, target, _version = head.split('\r\n', 1)[0].split(' ', 2)
            host, port = split_authority(target)
            if method.upper() != 'CONNECT':
                raise ValueError('%s is not CONNECT' % method)
        except ValueError as error:
            client.sendall(b'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
            LOG.warning('egress: malformed request: %s', error)
            return
        try:
            upstream = self.server.connect(host, port)
        except OSError as error:
            body = ('%s:%d unreachable: %s\n' % (host, port, error)).encode()
            client.sendall(b'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s'
                           % (len(body), body))
            return
        tunnel(client, upstream, early_data)


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


class EgressProxy:
    """The proxy on Unix socket ``path``; ``connect(host, port) -> socket`` makes each connection."""

    def __init__(self, path, connect=refuse_all):
        if os.path.exists(path):
            os.unlink(path)
        self.path = path
        self._server = _Server(path, _Handler)
        self._server.connect = connect
        os.chmod(path, 0o600)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), name='kube-egress',
                                        daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        if os.path.exists(self.path):
            os.unlink(self.path)

    def selector_config(self, config_path):
        """Write the API server's EgressSelectorConfiguration sending ``cluster`` traffic here; return its path."""
        config = {'apiVersion': 'apiserver.k8s.io/v1beta1', 'kind': 'EgressSelectorConfiguration',
                  'egressSelections': [{'name': 'cluster', 'connection': {
                      'proxyProtocol': 'HTTPConnect', 'transport': {'uds': {'udsName': self.path}}}}]}
        with open(config_path, 'w', encoding='utf-8') as handle:
            json.dump(config, handle)
        return config_path
