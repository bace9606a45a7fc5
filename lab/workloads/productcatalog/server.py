"""The productcatalogservice the lab's VM runs: hipstershop.ProductCatalogService and grpc.health.v1.Health over gRPC.

Behaves as Online Boutique's service does for its callers: the catalog comes from a JSON file (the protobuf JSON
mapping of ListProductsResponse), the port from ``PORT`` (3550), GetProduct of an unknown id is NOT_FOUND, and
SearchProducts matches the query case-insensitively against names and descriptions.

The stubs (``productcatalog_pb2`` and friends) are generated from ``protos/`` by ``stubs.generate`` and must be on
``sys.path``: the VM artifact carries them next to this file.
"""

import logging
import os
import signal
import sys
import threading
from concurrent import futures

import grpc
from google.protobuf import json_format

import health_pb2
import health_pb2_grpc
import productcatalog_pb2
import productcatalog_pb2_grpc

SERVICE_NAME = 'hipstershop.ProductCatalogService'
DEFAULT_PORT = 3550
DEFAULT_LISTEN_ADDRESS = '0.0.0.0'
# Seconds in-flight calls get to finish when systemd stops the service.
SHUTDOWN_GRACE = 5

log = logging.getLogger('productcatalogservice')


class CatalogError(Exception):
    """The catalog file cannot be read or does not describe products."""


def load_catalog(path):
    """The products listed in ``path``, in file order. Unknown fields or wrong types are errors, as in the real
    service (it parses the same JSON mapping)."""
    try:
        with open(path, encoding='utf-8') as handle:
            catalog = json_format.Parse(handle.read(), productcatalog_pb2.ListProductsResponse())
    except (OSError, json_format.ParseError) as error:
        raise CatalogError('cannot load the product catalog %s: %s' % (path, error)) from error
    ids = [product.id for product in catalog.products]
    if not ids:
        raise CatalogError('the product catalog %s lists no products' % path)
    if len(set(ids)) != len(ids):
        raise CatalogError('the product catalog %s lists a product id twice' % path)
    return list(catalog.products)


class ProductCatalog(productcatalog_pb2_grpc.ProductCatalogServiceServicer):
    """hipstershop.ProductCatalogService over a fixed list of products."""

    def __init__(self, products):
        self._products = products
        self._by_id = {product.id: product for product in products}

    def ListProducts(self, request, context):
        return productcatalog_pb2.ListProductsResponse(products=self._products)

    def GetProduct(self, request, context):
        product = self._by_id.get(request.id)
        if product is None:
            context.abort(grpc.StatusCode.NOT_FOUND, 'no product with ID %s' % request.id)
        return product

    def SearchProducts(self, request, context):
        query = request.query.lower()
        results = [product for product in self._products
                   if query in product.name.lower() or query in product.description.lower()]
        return productcatalog_pb2.SearchProductsResponse(results=results)


class Health(health_pb2_grpc.HealthServicer):
    """grpc.health.v1.Health: SERVING for the server as a whole ('') and for the catalog service by name."""

    _known = ('', SERVICE_NAME)

    def Check(self, request, context):
        if request.service not in self._known:
            context.abort(grpc.StatusCode.NOT_FOUND, 'unknown service %s' % request.service)
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    def Watch(self, request, context):
        status = (health_pb2.HealthCheckResponse.SERVING if request.service in self._known
                  else health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
        yield health_pb2.HealthCheckResponse(status=status)
        # The status never changes while the process lives: hold the stream open until the caller leaves.
        ended = threading.Event()
        context.add_callback(ended.set)
        ended.wait()


def serve(products, listen_address, port):
    """Start the server; returns it and the port it bound (``port`` 0 picks a free one)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=10))
    productcatalog_pb2_grpc.add_ProductCatalogServiceServicer_to_server(ProductCatalog(products), server)
    health_pb2_grpc.add_HealthServicer_to_server(Health(), server)
    host = '[%s]' % listen_address if ':' in listen_address else listen_address
    bound = server.add_insecure_port('%s:%d' % (host, port))
    if not bound:
        raise OSError('cannot listen on %s port %d' % (listen_address, port))
    server.start()
    return server, bound


def _port_from_env():
    text = os.environ.get('PORT', str(DEFAULT_PORT))
    if not text.isdigit() or int(text) > 65535:
        raise ValueError('PORT must be a TCP port number (0-65535), got %r' % text)
    return int(text)


def main():
    """Entry point: configuration from the environment, logs to stderr (the journal under systemd)."""
    logging.basicConfig(level=logging.INFO, format='%(name)s %(levelname)s %(message)s')
    default_catalog = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'products.json')
    try:
        port = _port_from_env()
        products = load_catalog(os.environ.get('PRODUCT_CATALOG', default_catalog))
        server, bound = serve(products, os.environ.get('LISTEN_ADDRESS', DEFAULT_LISTEN_ADDRESS), port)
    except (ValueError, CatalogError, OSError) as error:
        log.error('%s', error)
        return 1
    log.info('serving %d products on port %d', len(products), bound)
    signal.signal(signal.SIGTERM, lambda signum, frame: server.stop(SHUTDOWN_GRACE))
    server.wait_for_termination()
    return 0


if __name__ == '__main__':
    sys.exit(main())
