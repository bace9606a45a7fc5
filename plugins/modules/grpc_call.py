#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: grpc_call
short_description: Call a gRPC method with an empty request, over mutual TLS as a mesh workload, and check the reply
version_added: 0.1.0
description:
  - Makes one unary gRPC call with the empty request message (proto3 - every field unset), for example
    C(hipstershop.ProductCatalogService/ListProducts), and succeeds when a reply message comes back; retries until
    O(timeout) seconds have passed.
  - With O(ca_path) the call goes over TLS and the server's chain must verify against it; with
    O(client_cert_path) the client presents a certificate, as a mesh workload does to a sidecar whose inbound mTLS
    is C(STRICT). Mesh certificates name a SPIFFE ID and no host name, so host names are not checked;
    O(server_identity) checks the server's SPIFFE ID instead.
  - O(count_field) counts the records of one field number in the reply by reading the protobuf wire format (the
    elements of a repeated message field), without the service's C(.proto); O(min_count) makes too few a failure.
  - Needs only the Python standard library on the target.
author: meshbridge maintainers (@meshbridge)
options:
  host:
    description: Address of the server (for a VM's service, the VM's address; its sidecar answers).
    type: str
    required: true
  port:
    description: Port of the server.
    type: int
    required: true
  method:
    description: The method, C(package.Service/Method).
    type: str
    required: true
  ca_path:
    description:
      - PEM file of the CA certificate(s) the server's chain must verify against (the mesh's C(root-cert.pem)).
      - Set, the call uses TLS; unset, cleartext HTTP/2.
    type: path
  client_cert_path:
    description:
      - PEM file with the client certificate followed by its intermediates (a workload's C(cert-chain.pem)).
    type: path
  client_key_path:
    description: Unencrypted PEM private key of O(client_cert_path).
    type: path
  server_identity:
    description:
      - The URI SAN the server's certificate must carry, for example
        C(spiffe://cluster.local/ns/default/sa/productcatalogservice).
    type: str
  server_name:
    description: TLS server name (SNI) to send; none by default.
    type: str
  alpn:
    description:
      - ALPN protocols to offer. The default offers C(istio-h2), which a sidecar's C(PERMISSIVE) inbound listener
        takes for mesh mTLS, and C(h2), which plain gRPC servers choose.
    type: list
    elements: str
    default: [istio-h2, h2]
  count_field:
    description: Field number whose records to count in the reply (V(1) is C(products) in C(ListProductsResponse)).
    type: int
  min_count:
    description: Fail unless the reply holds at least this many records of O(count_field).
    type: int
  timeout:
    description: Seconds to keep calling before failing (with O(retry=false), the one call's own limit).
    type: int
    default: 30
  retry:
    description:
      - Whether to call again, backing off, until a call succeeds or O(timeout) passes.
      - V(false) makes one call, for a check that expects a refusal (a cleartext call to a sidecar with STRICT
        mTLS), which a refused call already answers; the result's RV(connected) tells that refusal from no server.
    type: bool
    default: true
extends_documentation_fragment:
  - meshbridge.istio_vm.attributes
attributes:
  check_mode:
    support: full
    details: Only calls a method; runs the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Never changes anything on the target; the method called should be one that only reads.
notes:
  - Response headers and trailers are not decoded, so a failed call is reported as giving no reply message, without
    its grpc-status.
seealso:
  - module: meshbridge.istio_vm.grpc_health
  - module: meshbridge.istio_vm.cert_issue
"""

EXAMPLES = r"""
- name: Issue a client certificate for the mesh identity default/frontend
  meshbridge.istio_vm.cert_issue:
    kind: workload
    dest: /tmp/mesh-client
    signer: /srv/mesh-ca/west
    namespace: default
    service_account: frontend

- name: List products on the VM through its sidecar, over mTLS as the frontend
  meshbridge.istio_vm.grpc_call:
    host: 10.168.0.20
    port: 3550
    method: hipstershop.ProductCatalogService/ListProducts
    ca_path: /tmp/mesh-client/root-cert.pem
    client_cert_path: /tmp/mesh-client/cert-chain.pem
    client_key_path: /tmp/mesh-client/key.pem
    server_identity: spiffe://cluster.local/ns/default/sa/productcatalogservice
    count_field: 1
    min_count: 1
    timeout: 60
  register: products

- name: Call a cleartext server on the VM itself
  meshbridge.istio_vm.grpc_call:
    host: 127.0.0.1
    port: 3550
    method: hipstershop.ProductCatalogService/ListProducts
"""

RETURN = r"""
count:
  description: How many records of O(count_field) the reply holds.
  returned: when O(count_field) is set
  type: int
  sample: 9
reply_size:
  description: Size of the reply message in bytes.
  returned: success
  type: int
  sample: 2734
peer_identities:
  description: The URI SANs of the server's certificate; empty without TLS.
  returned: success
  type: list
  elements: str
  sample: ["spiffe://cluster.local/ns/default/sa/productcatalogservice"]
alpn:
  description: The ALPN protocol the server chose; null without TLS or when it chose none.
  returned: success
  type: str
  sample: h2
tls_version:
  description: The TLS version of the connection; null without TLS.
  returned: success
  type: str
  sample: TLSv1.3
attempts:
  description: How many calls it took.
  returned: success
  type: int
  sample: 1
connected:
  description:
    - Whether the last attempt got a TCP connection. On a failed call V(false) means nothing accepted one (refused,
      unreachable, timed out); V(true) means the server took the connection and then refused or broke the call, as
      a sidecar with STRICT mTLS does with a cleartext call.
  returned: failure
  type: bool
  sample: true
elapsed:
  description: Seconds spent.
  returned: always
  type: float
  sample: 0.05
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.grpc_call import (
    DEFAULT_ALPN,
    GrpcCallError,
    ParameterError,
    call_until_ok,
    method_path,
    tls_context,
)


def _checked(module):
    """The method's path and the TLS context, or a failure naming the option to fix."""
    params = module.params
    if not 1 <= params['port'] <= 65535:
        module.fail_json(msg='port must be between 1 and 65535, got %d' % params['port'])
    if params['timeout'] < 1:
        module.fail_json(msg='timeout must be at least 1 second, got %d' % params['timeout'])
    if params['count_field'] is not None and not 1 <= params['count_field'] <= 536870911:
        module.fail_json(msg='count_field must be a protobuf field number (1 to 536870911), got %d' % params['count_field'])
    if not params['alpn']:
        module.fail_json(msg='alpn must offer at least one protocol, for example h2')
    try:
        path = method_path(params['method'])
        context = None
        if params['ca_path']:
            context = tls_context(params['ca_path'], params['client_cert_path'], params['client_key_path'],
                                  params['alpn'])
    except ParameterError as error:
        module.fail_json(msg=str(error))
    return path, context


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type='str', required=True),
            port=dict(type='int', required=True),
            method=dict(type='str', required=True),
            ca_path=dict(type='path'),
            client_cert_path=dict(type='path'),
            client_key_path=dict(type='path', no_log=False),
            server_identity=dict(type='str'),
            server_name=dict(type='str'),
            alpn=dict(type='list', elements='str', default=list(DEFAULT_ALPN)),
            count_field=dict(type='int'),
            min_count=dict(type='int'),
            timeout=dict(type='int', default=30),
            retry=dict(type='bool', default=True),
        ),
        required_together=[('client_cert_path', 'client_key_path')],
        required_by={'client_cert_path': 'ca_path', 'server_identity': 'ca_path', 'server_name': 'ca_path',
                     'min_count': 'count_field'},
        supports_check_mode=True,
    )
    path, context = _checked(module)
    params = module.params
    started = time.monotonic()
    try:
        result = call_until_ok(params['host'], params['port'], path, timeout=params['timeout'],
                               min_count=params['min_count'], context=context, server_name=params['server_name'],
                               server_identity=params['server_identity'], count=params['count_field'],
                               retry=params['retry'])
    except GrpcCallError as error:
        module.fail_json(msg=str(error), connected=error.connected, elapsed=round(time.monotonic() - started, 2))
    result['elapsed'] = round(result['elapsed'], 2)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
