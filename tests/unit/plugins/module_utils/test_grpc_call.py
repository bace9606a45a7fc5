"""The standard-library gRPC client over mutual TLS against a real grpcio server: the lab's productcatalogservice
requiring a client certificate from the mesh root, with a SPIFFE-only server certificate as a sidecar has."""

import socket
import struct
import time

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import grpc_call, grpc_wire
from tests.support.mesh_grpc import MeshCA, serving_catalog_mtls

LIST_PRODUCTS = '/hipstershop.ProductCatalogService/ListProducts'
CATALOG_IDENTITY = 'spiffe://cluster.local/ns/default/sa/productcatalogservice'


@pytest.fixture(scope='module')
def mesh(tmp_path_factory):
    return MeshCA(tmp_path_factory.mktemp('mesh'))


@pytest.fixture(scope='module')
def catalog(mesh, tmp_path_factory):
    with serving_catalog_mtls(mesh, tmp_path_factory.mktemp('stubs')) as port:
        yield port


@pytest.fixture(scope='module')
def frontend(mesh, tmp_path_factory):
    return mesh.write_workload(tmp_path_factory.mktemp('frontend'), 'default', 'frontend')


def _context(client, ca_path=None):
    return grpc_call.tls_context(ca_path or client['root-cert.pem'], client['cert-chain.pem'], client['key.pem'])


def test_lists_products_over_mtls_and_reads_the_server_identity(catalog, frontend):
    result = grpc_call.call_once('127.0.0.1', catalog, LIST_PRODUCTS, context=_context(frontend),
                                 server_identity=CATALOG_IDENTITY, count=1)
    assert result['count'] == 9
    assert result['peer_identities'] == [CATALOG_IDENTITY]
    assert result['alpn'] == 'h2'
    assert result['tls_version'] in ('TLSv1.2', 'TLSv1.3')
    assert result['reply_size'] > 9 * 50


def test_another_server_identity_is_refused(catalog, frontend):
    with pytest.raises(grpc_call.GrpcCallError, match='is not spiffe://cluster.local/ns/default/sa/cartservice: '
                                                      'its certificate names ' + CATALOG_IDENTITY):
        grpc_call.call_once('127.0.0.1', catalog, LIST_PRODUCTS, context=_context(frontend),
                            server_identity='spiffe://cluster.local/ns/default/sa/cartservice')


def test_a_client_certificate_from_another_root_is_refused(catalog, frontend, tmp_path):
    stranger = MeshCA(tmp_path / 'other').write_workload(tmp_path / 'stranger', 'default', 'frontend')
    # The stranger trusts the real root, so only the server's refusal of its certificate can fail the call.
    with pytest.raises(grpc_call.GrpcCallError, match='refused the client certificate|closed the connection'):
        grpc_call.call_once('127.0.0.1', catalog, LIST_PRODUCTS,
                            context=_context(stranger, ca_path=frontend['root-cert.pem']))


def test_a_server_from_another_root_does_not_verify(catalog, frontend, tmp_path):
    other_root = MeshCA(tmp_path / 'other').root_path
    with pytest.raises(grpc_call.GrpcCallError, match='does not verify against ca_path'):
        grpc_call.call_once('127.0.0.1', catalog, LIST_PRODUCTS, context=_context(frontend, ca_path=other_root))


def test_without_a_client_certificate_the_call_fails(catalog, frontend):
    context = grpc_call.tls_context(frontend['root-cert.pem'])
    with pytest.raises(grpc_call.GrpcCallError):
        grpc_call.call_once('127.0.0.1', catalog, LIST_PRODUCTS, context=context)


def test_an_unknown_method_has_no_reply(catalog, frontend):
    with pytest.raises(grpc_call.GrpcCallError, match='no reply message'):
        grpc_call.call_once('127.0.0.1', catalog, '/hipstershop.ProductCatalogService/Nope', context=_context(frontend))


def test_too_few_records_fail_after_the_timeout(catalog, frontend):
    with pytest.raises(grpc_call.GrpcCallError) as failed:
        grpc_call.call_until_ok('127.0.0.1', catalog, LIST_PRODUCTS, timeout=1, interval=0.5, min_count=10,
                                context=_context(frontend), count=1)
    assert 'hipstershop.ProductCatalogService/ListProducts to 127.0.0.1:%d' % catalog in str(failed.value)
    assert 'holds 9 records of field 1, fewer than 10' in str(failed.value)


def test_an_unreachable_server_fails_bounded_and_names_the_address():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    with pytest.raises(grpc_call.GrpcCallError, match='127.0.0.1:%d failed for 1 s' % port) as failed:
        grpc_call.call_until_ok('127.0.0.1', port, LIST_PRODUCTS, timeout=1, interval=0.5)
    assert failed.value.connected is False


def test_a_cleartext_call_to_an_mtls_server_is_refused_after_connecting(catalog):
    with pytest.raises(grpc_call.GrpcCallError) as failed:
        grpc_call.call_until_ok('127.0.0.1', catalog, LIST_PRODUCTS, timeout=1, interval=0.5)
    assert failed.value.connected is True


def test_without_retry_one_call_answers(catalog, frontend):
    started = time.monotonic()
    with pytest.raises(grpc_call.GrpcCallError, match='ListProducts to 127.0.0.1:%d failed: ' % catalog) as failed:
        grpc_call.call_until_ok('127.0.0.1', catalog, LIST_PRODUCTS, timeout=10, retry=False)
    assert failed.value.connected is True and time.monotonic() - started < 5
    result = grpc_call.call_until_ok('127.0.0.1', catalog, LIST_PRODUCTS, timeout=10, retry=False,
                                     context=_context(frontend), count=1)
    assert (result['attempts'], result['count']) == (1, 9)


@pytest.mark.parametrize('method', ['ListProducts', 'hipstershop.ProductCatalogService/', 'a b/C', ''])
def test_method_must_name_service_and_method(method):
    with pytest.raises(grpc_call.ParameterError, match="method must be 'package.Service/Method'"):
        grpc_call.method_path(method)


def test_method_path_adds_the_slash():
    assert grpc_call.method_path('hipstershop.ProductCatalogService/ListProducts') == LIST_PRODUCTS
    assert grpc_call.method_path(LIST_PRODUCTS) == LIST_PRODUCTS


def test_unreadable_tls_files_name_the_option(tmp_path, frontend):
    with pytest.raises(grpc_call.ParameterError, match='ca_path'):
        grpc_call.tls_context(str(tmp_path / 'missing.pem'))
    with pytest.raises(grpc_call.ParameterError, match='client_cert_path'):
        grpc_call.tls_context(frontend['root-cert.pem'], frontend['root-cert.pem'], frontend['key.pem'])


def test_encoded_call_carries_path_and_message():
    encoded = grpc_wire.encode_call('h:1', LIST_PRODUCTS, b'\x0a\x01x', scheme='https')
    assert LIST_PRODUCTS.encode() in encoded and b'https' in encoded
    assert encoded.endswith(b'\x00' + struct.pack('>I', 3) + b'\x0a\x01x')


@pytest.mark.parametrize('data, message', [
    (b'', 'no reply message'), (b'\x01\x00\x00\x00\x00', 'compressed'), (b'\x00\x00\x00\x00\x05ab', 'cut short')])
def test_decode_message_names_what_is_wrong(data, message):
    with pytest.raises(grpc_wire.GrpcWireError, match=message):
        grpc_wire.decode_message(data)
