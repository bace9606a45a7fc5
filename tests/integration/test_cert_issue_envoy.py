"""The certificates cert_issue makes, in real Envoy with real TLS: a listener holding workload A's certificate that
requires a client certificate from the mesh root with the SPIFFE ID of workload B, the way an Istio sidecar's
inbound authorization narrows a port to one peer."""

import os
import socket
import ssl

import pytest

from tests.support.envoy import Envoy

B_ID = 'spiffe://cluster.local/ns/default/sa/b'
GREETING = 'hello from sa/b'

CERTIFICATES = """
    - hosts: localhost
      gather_facts: false
      tasks:
        - name: Root CAs, the mesh's and another one
          meshbridge.istio_vm.cert_issue:
            kind: root
            dest: "{{ base }}/{{ item }}-root"
            key_type: ecdsa
          loop: [mesh, other]
        - name: Intermediate CAs
          meshbridge.istio_vm.cert_issue:
            kind: intermediate
            dest: "{{ base }}/{{ item }}-west"
            signer: "{{ base }}/{{ item }}-root"
            cluster_name: west
            key_type: ecdsa
          loop: [mesh, other]
        - name: Workloads of the mesh
          meshbridge.istio_vm.cert_issue:
            kind: workload
            dest: "{{ base }}/mesh-{{ item }}"
            signer: "{{ base }}/mesh-west"
            namespace: default
            service_account: "{{ item }}"
            key_type: "{{ workload_key_type }}"
          loop: [a, b, c]
        - name: Workload b of another mesh
          meshbridge.istio_vm.cert_issue:
            kind: workload
            dest: "{{ base }}/other-b"
            signer: "{{ base }}/other-west"
            namespace: default
            service_account: b
            key_type: "{{ workload_key_type }}"
"""


def listener_config(server_dir, root_cert):
    """Envoy bootstrap: one TLS listener on a free port that echoes what peers with B's identity send."""
    tls_context = {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
        'require_client_certificate': True,
        'common_tls_context': {
            'tls_certificates': [{
                'certificate_chain': {'filename': os.path.join(server_dir, 'cert-chain.pem')},
                'private_key': {'filename': os.path.join(server_dir, 'key.pem')},
            }],
            'validation_context': {
                'trusted_ca': {'filename': root_cert},
                'match_typed_subject_alt_names': [{'san_type': 'URI', 'matcher': {'exact': B_ID}}],
            },
        },
    }
    return {'static_resources': {'listeners': [{
        'name': 'inbound',
        'stat_prefix': 'inbound',
        'address': {'socket_address': {'address': '127.0.0.1', 'port_value': 0}},
        'filter_chains': [{
            'transport_socket': {'name': 'envoy.transport_sockets.tls', 'typed_config': tls_context},
            'filters': [{
                'name': 'envoy.filters.network.echo',
                'typed_config': {'@type': 'type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo'},
            }],
        }],
    }]}}


def exchange(port, root_cert, client_dir=None):
    """Connect with TLS as the workload in ``client_dir`` (or with no certificate), send GREETING; return the echo
    and the server's SANs, or None and the TLS error. With TLS 1.3 a refused client certificate shows as an alert on the first read."""
    context = ssl.create_default_context(cafile=root_cert)
    context.check_hostname = False  # workload certificates name a SPIFFE ID, not a host
    if client_dir is not None:
        context.load_cert_chain(os.path.join(client_dir, 'cert-chain.pem'), os.path.join(client_dir, 'key.pem'))
    with socket.create_connection(('127.0.0.1', port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw) as tls:
                tls.sendall(GREETING.encode())
                data = tls.recv(1024).decode()
                server_id = tls.getpeercert()['subjectAltName']
        except OSError as error:  # an alert, or the reset/EOF when Envoy closes first: which one is a matter of timing
            return None, str(error)
    return data, server_id


@pytest.mark.envoy
@pytest.mark.parametrize('workload_key_type', ['rsa', 'ecdsa'])
def test_envoy_accepts_only_the_allowed_peer_of_the_mesh(run_playbook, tmp_path, workload_key_type):
    base = str(tmp_path)
    run_playbook(CERTIFICATES, extra_vars={'base': base, 'workload_key_type': workload_key_type})
    root_cert = os.path.join(base, 'mesh-root', 'root-cert.pem')

    with Envoy(listener_config(os.path.join(base, 'mesh-a'), root_cert), tmp_path) as envoy:
        port = envoy.listener_port('inbound')

        data, server_id = exchange(port, root_cert, os.path.join(base, 'mesh-b'))
        assert data == GREETING, server_id
        assert server_id == (('URI', 'spiffe://cluster.local/ns/default/sa/a'),)  # the client verified A too

        refused = {
            'fail_verify_san': os.path.join(base, 'mesh-c'),       # right root, wrong service account
            'fail_verify_error': os.path.join(base, 'other-b'),    # right SPIFFE ID, another root
            'fail_verify_no_cert': None,                           # no client certificate at all
        }
        for client_dir in refused.values():
            data, _error = exchange(port, root_cert, client_dir)
            assert data is None, 'Envoy accepted %s' % (client_dir or 'a client without certificate')

        stats = envoy.counters('ssl')
        prefix = 'listener.inbound.ssl.'
        assert stats[prefix + 'handshake'] == 1, stats
        for counter in refused:
            assert stats[prefix + counter] == 1, (counter, stats, envoy.log_tail())
