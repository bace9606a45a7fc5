"""ListProducts on a VM's productcatalogservice from a lab client, as a mesh client's sidecar would send it:
``python -m tests.support.mesh_grpc_call --address A --port P --source S --stubs DIR --workdir DIR [--tls DIR --peer ID]``.

Run it inside a lab network namespace (``nsenter --net=...``). A real Envoy carries the call from loopback to the
VM from address ``--source``, in plaintext or, with ``--tls``, with mutual TLS using the
``cert-chain.pem``/``key.pem``/``root-cert.pem`` in that directory and requiring the server to be SPIFFE ID
``--peer``. Prints one JSON line: ``{"products": [ids]}`` or ``{"error": "...", "upstream": {counters}, "tls_errors": [...],
"envoy_log": "..."}``.
"""

import argparse
import json
import os

import grpc

from lab.workloads.productcatalog import stubs
from tests.support.envoy import Envoy

CALL_TIMEOUT = 10


def _tls_socket(tls_dir, peer):
    def source(name):
        return {'filename': os.path.join(tls_dir, name)}
    context = {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        'common_tls_context': {
            'tls_certificates': [{'certificate_chain': source('cert-chain.pem'), 'private_key': source('key.pem')}],
            'validation_context': {
                'trusted_ca': source('root-cert.pem'),
                'match_typed_subject_alt_names': [{'san_type': 'URI', 'matcher': {'exact': peer}}],
            },
            # What Istio's client sidecars offer; the server's filter chain for mesh mTLS matches on it.
            'alpn_protocols': ['istio-peer-exchange', 'istio', 'h2'],
        },
    }
    return {'name': 'envoy.transport_sockets.tls', 'typed_config': context}


def envoy_config(address, port, source, tls_dir=None, peer=None):
    cluster = {
        'name': 'vm', 'type': 'STATIC', 'connect_timeout': '3s',
        'upstream_bind_config': {'source_address': {'address': source, 'port_value': 0}},
        'load_assignment': {'cluster_name': 'vm', 'endpoints': [{'lb_endpoints': [
            {'endpoint': {'address': {'socket_address': {'address': address, 'port_value': port}}}}]}]},
    }
    if tls_dir:
        cluster['transport_socket'] = _tls_socket(tls_dir, peer)
    listener = {
        'name': 'outbound', 'address': {'socket_address': {'address': '127.0.0.1', 'port_value': 0}},
        'filter_chains': [{'filters': [{'name': 'envoy.filters.network.tcp_proxy', 'typed_config': {
            '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
            'stat_prefix': 'outbound', 'cluster': 'vm'}}]}],
    }
    return {'static_resources': {'listeners': [listener], 'clusters': [cluster]}}


def _upstream(envoy):
    """What became of the connection to the VM, which tells a refusal by the VM's sidecar from a VM that cannot be
    reached: cluster ``vm``'s connection and TLS counters (``upstream_cx_connect_fail``, ``ssl.connection_error``,
    ...) and the TLS errors Envoy logged (``TLSV1_ALERT_UNKNOWN_CA`` when the VM refused our certificate)."""
    prefix = 'cluster.vm.'
    counters = envoy.counters(r'^cluster\.vm\.(upstream_cx|ssl\.)')
    with open(envoy.log_path, encoding='utf-8', errors='replace') as handle:
        tls_errors = [line.split('TLS_error:', 1)[1].strip() for line in handle if 'TLS_error:' in line]
    return {'upstream': {name[len(prefix):]: value for name, value in counters.items()}, 'tls_errors': tls_errors}


def list_products(options):
    proto = stubs.load(options.stubs)
    config = envoy_config(options.address, options.port, options.source, options.tls, options.peer)
    with Envoy(config, options.workdir) as envoy:
        target = '127.0.0.1:%d' % envoy.listener_port('outbound')
        with grpc.insecure_channel(target) as channel:
            stub = proto['productcatalog_pb2_grpc'].ProductCatalogServiceStub(channel)
            try:
                reply = stub.ListProducts(proto['productcatalog_pb2'].Empty(), timeout=CALL_TIMEOUT)
            except grpc.RpcError as error:
                return dict(_upstream(envoy), error='%s: %s' % (error.code().name, error.details()),
                            envoy_log=envoy.log_tail(15))
    return {'products': [product.id for product in reply.products]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ('address', 'source', 'stubs', 'workdir'):
        parser.add_argument('--' + name, required=True)
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--tls')
    parser.add_argument('--peer')
    print(json.dumps(list_products(parser.parse_args())))


if __name__ == '__main__':
    main()
