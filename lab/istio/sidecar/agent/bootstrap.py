"""The Envoy bootstrap the agent writes: the package's template (admin on 127.0.0.1:15000, the inbound listener
on 15006, the passthrough and black-hole clusters) completed with the node and the inbound filter chains.

Static configuration, not Envoy's xDS: the agent alone talks to istiod and restarts Envoy with a new bootstrap when
the certificate or the mTLS mode changes. The inbound listener restores the original destination (``original_dst``)
of the connections iptables redirected and forwards them to it, the workload's own address and port, as Istio's
InboundPassthroughCluster does. The mTLS mode decides the filter chains:

- STRICT: only TLS with a client certificate that chains to the mesh root and names a SPIFFE identity of the trust
  domain; anything else fails the handshake.
- PERMISSIVE: the same for TLS connections (``tls_inspector`` tells them apart), plaintext passes through as is.

Connections addressed to 15006 itself go to a cluster with no endpoints, so they cannot loop.
"""

import copy
import json

from lab.istio.sidecar.agent.capture import INBOUND_CAPTURE_PORT

MTLS_MODES = ('STRICT', 'PERMISSIVE')
# What the workload's clients may negotiate through TLS: gRPC needs h2 selected by ALPN.
_ALPN = ['h2', 'http/1.1']


def _tcp_proxy(stat_prefix, cluster):
    return {
        'name': 'envoy.filters.network.tcp_proxy',
        'typed_config': {'@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
                         'stat_prefix': stat_prefix, 'cluster': cluster},
    }


def _mtls_socket(cert_chain_path, key_path, root_cert_path, trust_domain):
    return {
        'name': 'envoy.transport_sockets.tls',
        'typed_config': {
            '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
            'require_client_certificate': True,
            'common_tls_context': {
                'alpn_protocols': _ALPN,
                'tls_certificates': [{'certificate_chain': {'filename': cert_chain_path},
                                      'private_key': {'filename': key_path}}],
                'validation_context': {
                    'trusted_ca': {'filename': root_cert_path},
                    'match_typed_subject_alt_names': [
                        {'san_type': 'URI', 'matcher': {'prefix': 'spiffe://%s/' % trust_domain}}],
                },
            },
        },
    }


def filter_chains(mtls_mode, cert_chain_path, key_path, root_cert_path, trust_domain):
    if mtls_mode not in MTLS_MODES:
        raise ValueError('mTLS mode %r is not one of %s' % (mtls_mode, ', '.join(MTLS_MODES)))
    mtls = {'name': 'inbound-mtls',
            'transport_socket': _mtls_socket(cert_chain_path, key_path, root_cert_path, trust_domain),
            'filters': [_tcp_proxy('inbound_mtls', 'InboundPassthroughCluster')]}
    chains = [{'name': 'inbound-loop', 'filter_chain_match': {'destination_port': INBOUND_CAPTURE_PORT},
               'filters': [_tcp_proxy('inbound_loop', 'BlackHoleCluster')]}]
    if mtls_mode == 'STRICT':
        return chains + [mtls]
    mtls['filter_chain_match'] = {'transport_protocol': 'tls'}
    plaintext = {'name': 'inbound-plaintext', 'filter_chain_match': {'transport_protocol': 'raw_buffer'},
                 'filters': [_tcp_proxy('inbound_plaintext', 'InboundPassthroughCluster')]}
    return chains + [mtls, plaintext]


def render(template, node, mtls_mode, cert_chain_path, key_path, root_cert_path, trust_domain):
    """The bootstrap dict: ``template`` (parsed JSON) with ``node`` and the inbound chains for ``mtls_mode``."""
    config = copy.deepcopy(template)
    config['node'] = node
    listener = next(item for item in config['static_resources']['listeners'] if item['name'] == 'virtualInbound')
    listener['filter_chains'] = filter_chains(mtls_mode, cert_chain_path, key_path, root_cert_path, trust_domain)
    return config


def load_template(path):
    with open(path, encoding='utf-8') as handle:
        return json.load(handle)
