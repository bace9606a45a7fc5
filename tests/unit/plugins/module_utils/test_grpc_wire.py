"""grpc_wire's HTTP/2 client against a real grpcio server: flow control lets replies past HTTP/2's initial
65,535-byte window through."""

import contextlib
import socket
from concurrent import futures

import grpc
import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import grpc_wire

METHOD = '/test.Blob/Get'


@contextlib.contextmanager
def serving_blob(size):
    """A cleartext gRPC server whose method answers ``size`` bytes (passed through as the serialized message)."""
    def get(_request, _context):
        return b'x' * size

    handler = grpc.method_handlers_generic_handler('test.Blob', {
        'Get': grpc.unary_unary_rpc_method_handler(get, request_deserializer=None, response_serializer=None)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[handler])
    port = server.add_insecure_port('127.0.0.1:0')
    server.start()
    try:
        yield port
    finally:
        server.stop(None)


@pytest.mark.parametrize('size', [1000, 65536, 200 * 1024, 3 * 1024 * 1024])
def test_replies_larger_than_the_initial_window_arrive(size):
    with serving_blob(size) as port, socket.create_connection(('127.0.0.1', port), timeout=5) as sock:
        sock.settimeout(5)
        reply = grpc_wire.unary_call(sock, grpc_wire.authority_of('127.0.0.1', port), METHOD)
    assert len(reply) == size


def test_a_reply_over_max_reply_is_refused():
    with serving_blob(100 * 1024) as port, socket.create_connection(('127.0.0.1', port), timeout=5) as sock:
        sock.settimeout(5)
        with pytest.raises(grpc_wire.GrpcWireError, match='larger than 65536 bytes'):
            grpc_wire.unary_call(sock, grpc_wire.authority_of('127.0.0.1', port), METHOD, max_reply=65536)
