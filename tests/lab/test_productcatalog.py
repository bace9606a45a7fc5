"""The productcatalogservice artifact, run as a VM runs it (system python3, nothing else installed), answers a real
gRPC client as Online Boutique's service does."""

import json
import os
import subprocess
import tarfile

import grpc
import pytest

from lab.workloads.productcatalog import build, stubs

# The artifact targets Debian 12's interpreter; the host is Debian 12 too, so its python3 stands in for the VM's.
VM_PYTHON = '/usr/bin/python3'
START_TIMEOUT = 20


@pytest.fixture(scope='module')
def artifact(tmp_path_factory):
    return build.build(str(tmp_path_factory.mktemp('artifact')))


@pytest.fixture(scope='module')
def proto(tmp_path_factory):
    """The generated stubs, imported for the test's own gRPC client."""
    return stubs.load(str(tmp_path_factory.mktemp('stubs')))


def _start(install_dir, env):
    """Run the installed entry point with port 0; returns the process and the port it logged."""
    entry = os.path.join(install_dir, 'bin', 'productcatalogservice')
    process = subprocess.Popen([VM_PYTHON, '-I', entry], env=dict(env, PORT='0', LISTEN_ADDRESS='127.0.0.1'),
                               stderr=subprocess.PIPE, text=True)
    line = process.stderr.readline()
    if 'serving' not in line:
        process.kill()
        raise AssertionError('productcatalogservice did not start: %s%s' % (line, process.stderr.read()))
    return process, int(line.rsplit(' ', 1)[1])


@pytest.fixture(scope='module')
def installed(artifact, tmp_path_factory):
    install_dir = str(tmp_path_factory.mktemp('opt'))
    with tarfile.open(artifact) as tar:
        tar.extractall(install_dir, filter='tar')
    return install_dir


@pytest.fixture(scope='module')
def channel(installed):
    # An empty environment: nothing from this venv may leak into the VM-like run.
    process, port = _start(installed, {})
    channel = grpc.insecure_channel('127.0.0.1:%d' % port)
    grpc.channel_ready_future(channel).result(timeout=START_TIMEOUT)
    yield channel
    channel.close()
    process.terminate()
    assert process.wait(timeout=START_TIMEOUT) == 0
    process.stderr.close()


def test_artifact_vendors_what_the_vm_lacks(installed):
    with open(os.path.join(installed, 'ARTIFACT.json'), encoding='utf-8') as handle:
        manifest = json.load(handle)
    assert manifest['name'] == 'productcatalogservice'
    assert [pin.split('==')[0] for pin in manifest['vendored']] == ['grpcio', 'protobuf', 'typing-extensions']
    assert os.path.isdir(os.path.join(installed, 'vendor', 'grpc'))
    # The host's system python has no grpc of its own, so the run below proves the vendored copy is what loads.
    probe = subprocess.run([VM_PYTHON, '-I', '-c', 'import grpc'], capture_output=True, check=False)
    assert probe.returncode != 0


def test_rebuild_gives_identical_bytes(artifact, tmp_path):
    again = build.build(str(tmp_path))
    with open(artifact, 'rb') as first, open(again, 'rb') as second:
        assert first.read() == second.read()


def test_list_products_returns_the_nine(channel, proto):
    pb2 = proto['productcatalog_pb2']
    catalog = proto['productcatalog_pb2_grpc'].ProductCatalogServiceStub(channel)
    products = catalog.ListProducts(pb2.Empty(), timeout=5).products
    assert len(products) == 9
    assert len({product.id for product in products}) == 9
    assert all(product.price_usd.currency_code == 'USD' for product in products)


def test_get_product_and_not_found(channel, proto):
    pb2 = proto['productcatalog_pb2']
    catalog = proto['productcatalog_pb2_grpc'].ProductCatalogServiceStub(channel)
    mug = catalog.GetProduct(pb2.GetProductRequest(id='6E92ZMYYFZ'), timeout=5)
    assert (mug.name, mug.price_usd.units, mug.price_usd.nanos) == ('Mug', 8, 990000000)
    with pytest.raises(grpc.RpcError) as refused:
        catalog.GetProduct(pb2.GetProductRequest(id='NOSUCHITEM'), timeout=5)
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert 'NOSUCHITEM' in refused.value.details()


def test_search_matches_name_and_description_ignoring_case(channel, proto):
    pb2 = proto['productcatalog_pb2']
    catalog = proto['productcatalog_pb2_grpc'].ProductCatalogServiceStub(channel)
    by_name = catalog.SearchProducts(pb2.SearchProductsRequest(query='MUG'), timeout=5).results
    assert [product.id for product in by_name] == ['6E92ZMYYFZ']
    by_description = catalog.SearchProducts(pb2.SearchProductsRequest(query='kitchen table'), timeout=5).results
    assert [product.id for product in by_description] == ['LS4PSXUNUM']
    assert not catalog.SearchProducts(pb2.SearchProductsRequest(query='submarine'), timeout=5).results


def test_health_serving_and_unknown_service(channel, proto):
    health_pb2 = proto['health_pb2']
    health = proto['health_pb2_grpc'].HealthStub(channel)
    for service in ('', 'hipstershop.ProductCatalogService'):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as refused:
        health.Check(health_pb2.HealthCheckRequest(service='hipstershop.CartService'), timeout=5)
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    watch = health.Watch(health_pb2.HealthCheckRequest(service=''), timeout=5)
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()


def test_bad_catalog_and_port_are_refused_with_a_reason(installed, tmp_path):
    entry = os.path.join(installed, 'bin', 'productcatalogservice')
    broken = tmp_path / 'products.json'
    broken.write_text('{"products": [{"id": "X", "price": 3}]}')
    for env, expected in (({'PRODUCT_CATALOG': str(broken)}, 'price'), ({'PORT': 'http'}, 'PORT')):
        run = subprocess.run([VM_PYTHON, '-I', entry], env=env, capture_output=True, text=True, timeout=START_TIMEOUT,
                             check=False)
        assert run.returncode == 1
        assert expected in run.stderr
