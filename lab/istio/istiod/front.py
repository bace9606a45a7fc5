"""TLS for istiod's port 15012, in front of the gRPC server.

istiod verifies a client certificate when one is offered and accepts calls without one (Go's
VerifyClientCertIfGiven): CreateCertificate comes with a token only, the xDS stream with the workload certificate.
grpcio's server credentials can either require client certificates or not ask for them, so TLS ends here
(Python's ssl, ``CERT_OPTIONAL`` against the mesh root, ALPN h2) and the bytes go on to the gRPC server on
loopback; the peer certificate of each relayed connection is remembered under the relay's local port, which is
the port the gRPC server sees as its peer's.
"""

import asyncio
import os
import shutil
import ssl
import tempfile
import threading

_CHUNK = 65536


def _server_context(chain_pem, key_pem, root_pem):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(['h2'])
    context.verify_mode = ssl.CERT_OPTIONAL
    context.load_verify_locations(cadata=root_pem)
    # ssl loads a certificate and key from files only: a private directory that lives as long as this call.
    directory = tempfile.mkdtemp(prefix='istiod-tls-')
    try:
        for name, text in (('chain.pem', chain_pem), ('key.pem', key_pem)):
            fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, 'w', encoding='ascii') as handle:
                handle.write(text)
        context.load_cert_chain(os.path.join(directory, 'chain.pem'), os.path.join(directory, 'key.pem'))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return context


class TlsFront:
    """Serves TLS on ``listen_socket`` and relays each connection to ``127.0.0.1:backend_port``."""

    def __init__(self, listen_socket, backend_port, chain_pem, key_pem, root_pem, log=None):
        self._socket = listen_socket
        self._backend_port = backend_port
        self._context = _server_context(chain_pem, key_pem, root_pem)
        self._log = log or (lambda message: None)
        self._peers = {}
        self._writers = set()
        self._loop = asyncio.new_event_loop()
        self._server = None
        self._thread = threading.Thread(target=self._loop.run_forever, name='istiod-tls', daemon=True)

    def peer_certificate(self, backend_local_port):
        """The DER client certificate of the connection relayed from ``backend_local_port`` (None: none given)."""
        return self._peers.get(backend_local_port)

    def start(self):
        self._loop.set_exception_handler(lambda loop, context: self._log('tls: %s' % context.get('message')))
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        started.result(timeout=10)

    async def _listen(self):
        self._server = await asyncio.start_server(self._relay, sock=self._socket, ssl=self._context,
                                                  ssl_handshake_timeout=10)

    async def _relay(self, client_reader, client_writer):
        certificate = client_writer.get_extra_info('ssl_object').getpeercert(binary_form=True)
        try:
            backend_reader, backend_writer = await asyncio.open_connection('127.0.0.1', self._backend_port)
        except OSError as exc:
            self._log('tls: backend unreachable: %s' % exc)
            client_writer.close()
            return
        port = backend_writer.get_extra_info('sockname')[1]
        self._peers[port] = certificate
        self._writers.update((client_writer, backend_writer))
        pipes = [asyncio.ensure_future(self._pipe(client_reader, backend_writer)),
                 asyncio.ensure_future(self._pipe(backend_reader, client_writer))]
        try:
            # gRPC never half-closes: when one side is done, so is the connection.
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
            self._peers.pop(port, None)
            for writer in (backend_writer, client_writer):
                self._writers.discard(writer)
                writer.close()

    @staticmethod
    async def _pipe(reader, writer):
        try:
            while True:
                data = await reader.read(_CHUNK)
                if not data:
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            return

    def stop(self):
        async def close():
            if self._server is not None:
                self._server.close()
            # Connections end at once (abort_clients is 3.13), so clients notice istiod is gone.
            for writer in list(self._writers):
                writer.transport.abort()
            relays = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in relays:
                task.cancel()
            await asyncio.gather(*relays, return_exceptions=True)
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()
        self._socket.close()
