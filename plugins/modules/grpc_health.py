#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: grpc_health
short_description: Wait until a gRPC server reports SERVING on the standard health service
version_added: 0.1.0
description:
  - Calls C(grpc.health.v1.Health/Check) over cleartext HTTP/2, as Istio's C(grpc) probe and C(grpc_health_probe) do,
    until the answer is C(SERVING) or O(timeout) seconds have passed.
  - Needs only the Python standard library on the target, so it runs on a VM that has no grpcio.
  - Does not support TLS; check a server's plaintext port (on the VM, the application behind its sidecar).
author: meshbridge maintainers (@meshbridge)
extends_documentation_fragment:
  - meshbridge.istio_vm.attributes
options:
  host:
    description: Address of the server.
    type: str
    default: 127.0.0.1
  port:
    description: Port of the server.
    type: int
    required: true
  service:
    description:
      - The service name to ask about; the empty string asks about the server as a whole.
    type: str
    default: ''
  timeout:
    description: Seconds to keep asking before failing.
    type: int
    default: 60
attributes:
  check_mode:
    support: full
    details: Only reads; runs the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Never changes anything.
notes:
  - A server that answers with an error (for example C(NOT_FOUND) for an unknown O(service)) is reported as giving no
    health reply; its grpc-status is not decoded.
"""

EXAMPLES = r"""
- name: Wait for productcatalogservice on the VM
  meshbridge.istio_vm.grpc_health:
    port: 3550
    timeout: 60

- name: Ask about one service by name
  meshbridge.istio_vm.grpc_health:
    host: 10.168.0.20
    port: 3550
    service: hipstershop.ProductCatalogService
"""

RETURN = r"""
status:
  description: The serving status the server reported.
  returned: success
  type: str
  sample: SERVING
attempts:
  description: How many calls it took.
  returned: success
  type: int
  sample: 3
elapsed:
  description: Seconds spent waiting.
  returned: always
  type: float
  sample: 2.04
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.grpc_health import HealthCheckError, wait_until_serving


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type='str', default='127.0.0.1'),
            port=dict(type='int', required=True),
            service=dict(type='str', default=''),
            timeout=dict(type='int', default=60),
        ),
        supports_check_mode=True,
    )
    port, timeout = module.params['port'], module.params['timeout']
    if not 1 <= port <= 65535:
        module.fail_json(msg='port must be between 1 and 65535, got %d' % port)
    if timeout < 1:
        module.fail_json(msg='timeout must be at least 1 second, got %d' % timeout)
    started = time.monotonic()
    try:
        status, attempts, elapsed = wait_until_serving(module.params['host'], port, module.params['service'], timeout)
    except HealthCheckError as error:
        module.fail_json(msg=str(error), elapsed=round(time.monotonic() - started, 2))
    module.exit_json(changed=False, status=status, attempts=attempts, elapsed=round(elapsed, 2))


if __name__ == '__main__':
    main()
