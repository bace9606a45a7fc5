"""The HTTPS server a stand-in runs behind the proxy, with a certificate for its hostnames from the lab CA."""

import http.server
import logging
import ssl
import sys
import threading

LOG = logging.getLogger('lab.internet.tls')


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler_class, context):
        super().__init__(address, handler_class)
        self.context = context

    def get_request(self):
        connection, address = super().get_request()
        # The handshake runs on first read, in the handler's thread, so one slow client does not stall accept().
        return self.context.wrap_socket(connection, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request, client_address):
        # A client that rejects the certificate or hangs up is the client's business: one log line, no traceback.
        LOG.warning('connection from %s:%d ended: %s', client_address[0], client_address[1], sys.exc_info()[1])


class TLSServer:
    """Serves ``handler_class`` (an ``http.server.BaseHTTPRequestHandler``) over TLS on ``address:port``.

    The certificate names ``hostnames`` and is signed by ``ca`` (a ``lab.pki.LabCA``); ``name`` names its files in
    the CA directory. Extra attributes for the handler go on ``.httpd`` (the handler sees it as ``self.server``).
    """

    def __init__(self, ca, name, hostnames, handler_class, address='127.0.0.1', port=0):
        self.hostnames = list(hostnames)
        cert_path, key_path = ca.issue_server_cert(name, hostnames=self.hostnames)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_path, key_path)
        self.httpd = _Server((address, port), handler_class, context)
        self._thread = None

    @property
    def backend(self):
        """The ``(address, port)`` to give the proxy's registry."""
        return self.httpd.server_address[:2]

    def register(self, registry):
        for hostname in self.hostnames:
            registry.add(hostname, self.backend)

    def start(self):
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), name='lab-tls-%d' % self.backend[1], daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
