"""The standard-library gRPC health check against a real grpcio server (the lab's productcatalogservice)."""

import socket
import struct
import threading

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import grpc_health
from lab.workloads.productcatalog import stubs


@pytest.fixture(scope='module')
def catalog_server(tmp_path_factory):
    stubs.load(str(tmp_path_factory.mktemp('stubs')))
    # Imported after the stubs exist: server.py imports them by top-level name.
    from lab.workloads.productcatalog import server  # pylint: disable=import-outside-toplevel
    running, port = server.serve(server.load_catalog(server.__file__.replace('server.py', 'products.json')),
                                 '127.0.0.1', 0)
    yield port
    running.stop(0)


def test_serving_for_the_server_and_its_service(catalog_server):
    assert grpc_health.check_once('127.0.0.1', catalog_server) == 'SERVING'
    assert grpc_health.check_once('127.0.0.1', catalog_server, 'hipstershop.ProductCatalogService') == 'SERVING'


def test_unknown_service_has_no_reply(catalog_server):
    with pytest.raises(grpc_health.HealthCheckError, match='no health reply'):
        grpc_health.check_once('127.0.0.1', catalog_server, 'hipstershop.CartService')


def test_wait_returns_at_once_when_serving(catalog_server):
    status, attempts, elapsed = grpc_health.wait_until_serving('127.0.0.1', catalog_server, timeout=5)
    assert (status, attempts) == ('SERVING', 1)
    assert elapsed < 5


def _closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_wait_is_bounded_and_names_the_address():
    port = _closed_port()
    with pytest.raises(grpc_health.HealthCheckError) as failed:
        grpc_health.wait_until_serving('127.0.0.1', port, timeout=2, interval=0.5)
    assert '127.0.0.1:%d' % port in str(failed.value)
    assert 'refused' in str(failed.value)


def test_a_server_that_is_not_grpc_is_not_serving():
    """An HTTP/1 server answers the HTTP/2 preface with an error and closes: no health reply."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)

    def answer_http1():
        conn = listener.accept()[0]
        with conn:
            conn.recv(4096)
            conn.sendall(b'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')

    thread = threading.Thread(target=answer_http1)
    thread.start()
    try:
        with pytest.raises(grpc_health.HealthCheckError):
            grpc_health.check_once('127.0.0.1', listener.getsockname()[1], timeout=2)
    finally:
        thread.join(timeout=5)
        listener.close()


@pytest.mark.parametrize('status, name', [(0, 'UNKNOWN'), (1, 'SERVING'), (2, 'NOT_SERVING'), (3, 'SERVICE_UNKNOWN')])
def test_decode_status(status, name):
    message = b'\x08' + bytes([status]) if status else b''  # proto3 leaves a zero enum out
    assert grpc_health.decode_status(b'\x00' + struct.pack('>I', len(message)) + message) == name


def test_decode_refuses_what_is_not_a_health_reply():
    with pytest.raises(grpc_health.HealthCheckError, match='not a HealthCheckResponse'):
        grpc_health.decode_status(b'\x00\x00\x00\x00\x02\x0a\x00')
    with pytest.raises(grpc_health.HealthCheckError, match='compressed'):
        grpc_health.decode_status(b'\x01\x00\x00\x00\x00')


def test_request_encodes_the_service_name():
    request = grpc_health.encode_request('127.0.0.1:3550', 'x')
    assert request.startswith(b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
    assert request.endswith(b'\x00\x00\x00\x00\x03\x0a\x01x')
    assert b'/grpc.health.v1.Health/Check' in request
