"""An HTTP CONNECT proxy: tunnels to the stand-ins in a HostRegistry, answers 403 to every other destination."""

import logging
import select
import socket
import socketserver
import threading

LOG = logging.getLogger('lab.internet.proxy')

_MAX_HEAD = 16384
_REFUSAL = (b'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s')


def read_head(connection):
    """The request line and headers, up to the blank line; raises ValueError if it never comes."""
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = connection.recv(4096)
        if not chunk:
            raise ValueError('connection closed before the request head ended')
        data += chunk
        if len(data) > _MAX_HEAD:
            raise ValueError('request head longer than %d bytes' % _MAX_HEAD)
    head, _sep, rest = data.partition(b'\r\n\r\n')
    return head.decode('latin-1'), rest


def split_authority(authority):
    host, _sep, port = authority.rpartition(':')
    if not host or not port.isdigit():
        raise ValueError('CONNECT target %r is not host:port' % authority)
    return host.strip('[]'), int(port)


def splice(first, second):
    """Copy bytes both ways until either side closes."""
    sockets = [first, second]
    while True:
        readable, _w, _x = select.select(sockets, [], [], 300)
        if not readable:
            return
        for source in readable:
            data = source.recv(65536)
            if not data:
                return
            (second if source is first else first).sendall(data)


def tunnel(client, upstream, early_data):
    """Answer a CONNECT with 200, pass on what the client sent after its request head, then splice until either
    side closes; closes ``upstream``."""
    with upstream:
        upstream.settimeout(None)
        client.sendall(b'HTTP/1.1 200 Connection established\r\n\r\n')
        if early_data:
            upstream.sendall(early_data)
        splice(client, upstream)


class _TunnelHandler(socketserver.BaseRequestHandler):

    def handle(self):
        client = self.request
        try:
            head, early_data = read_head(client)
            method, target, _version = head.split('\r\n', 1)[0].split(' ', 2)
        except ValueError as error:
            LOG.warning('refused %s: malformed request (%s)', self.client_address[0], error)
            return
        if method.upper() != 'CONNECT':
            self._refuse('%s %s: the lab internet only carries HTTPS (CONNECT)' % (method, target))
            return
        try:
            host, port = split_authority(target)
        except ValueError as error:
            self._refuse(str(error))
            return
        backend = self.server.registry.lookup(host, port)
        if backend is None:
            self._refuse('CONNECT %s:%d: not a host of the lab internet' % (host, port))
            return
        try:
            upstream = socket.create_connection(backend, timeout=10)
        except OSError as error:
            LOG.error('CONNECT %s:%d: stand-in at %s:%d unreachable: %s', host, port, backend[0], backend[1], error)
            client.sendall(b'HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
            return
        LOG.info('CONNECT %s:%d -> %s:%d', host, port, backend[0], backend[1])
        tunnel(client, upstream, early_data)

    def _refuse(self, reason):
        LOG.warning('refused %s: %s', self.client_address[0], reason)
        self.server.refusals.append(reason)
        body = (reason + '\n').encode()
        self.request.sendall(_REFUSAL % (len(body), body))


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class ConnectProxy:
    """The proxy on ``address:port`` (port 0 picks a free one; see ``.port``). ``refusals`` lists what it refused."""

    def __init__(self, registry, address='127.0.0.1', port=3128):
        self._server = _Server((address, port), _TunnelHandler)
        self._server.registry = registry
        self._server.refusals = []
        self._thread = None

    @property
    def address(self):
        return self._server.server_address[0]

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        return 'http://%s:%d' % (self.address, self.port)

    @property
    def refusals(self):
        return list(self._server.refusals)

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name='lab-internet-proxy', daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
