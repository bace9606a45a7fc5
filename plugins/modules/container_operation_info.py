#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: container_operation_info
short_description: Wait a bounded while for a GKE operation and say where it is
version_added: 0.2.0
description:
  - Reads a GKE (container v1) operation until it is C(DONE) or O(wait_timeout) seconds have passed, and returns
    it with a one-line description, RV(msg), of its type, target, status and seconds since it started.
  - Run in a loop whose label is RV(msg) and which breaks on RV(done), it shows a long operation's progress while
    it runs, one line per O(wait_timeout) (see the examples); the P(meshbridge.istio_vm.gke_cluster#role) role
    waits for a cluster's creation and deletion so.
  - An operation that finished with an error fails the module with that error.
author:
  - meshbridge maintainers (@meshbridge)
extends_documentation_fragment:
  - meshbridge.istio_vm.attributes
  - meshbridge.istio_vm.attributes.action_group_gcp
  - meshbridge.istio_vm.gcp
attributes:
  check_mode:
    support: full
    details: Reads only; it runs in check mode as it does otherwise.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  name:
    description: The operation's name, for example the C(name) of RV(meshbridge.istio_vm.container_cluster#module:operation).
    type: str
    required: true
  location:
    description: The zone or region of the operation (the cluster's location).
    type: str
    required: true
    aliases: [zone]
  wait_timeout:
    description:
      - Seconds to wait for the operation to be C(DONE) in this call; V(0) reads it once.
    type: int
    default: 25
  fail_on_timeout:
    description:
      - Fail when the operation is still not C(DONE) after O(wait_timeout). V(false) returns it with RV(done=false).
    type: bool
    default: true
seealso:
  - module: meshbridge.istio_vm.container_cluster
'''

EXAMPLES = r'''
- name: Start creating the cluster
  meshbridge.istio_vm.container_cluster:
    name: west
    location: us-west2-a
    project: my-project
    auth_kind: application
    wait: false
  register: west_started

# One line every 25 s at most ("ok: [localhost] => (item=operation operation-1 (CREATE_CLUSTER on west) is
# RUNNING, 75 s since it started)"); 96 of them at most, 40 minutes. break_when needs ansible-core 2.18.
- name: Wait for the cluster's operation
  meshbridge.istio_vm.container_operation_info:
    name: "{{ west_started.operation.name }}"
    location: us-west2-a
    project: my-project
    auth_kind: application
    fail_on_timeout: "{{ ansible_loop.last }}"
  loop: "{{ range(96) | list if west_started.operation else [] }}"
  loop_control:
    extended: true
    label: "{{ west_wait.msg | default('') }}"
    break_when: west_wait.done | default(false) or west_wait is failed
  register: west_wait
'''

RETURN = r'''
operation:
  description: The operation as the API returned it last.
  returned: success
  type: dict
  sample: {"name": "operation-1", "operationType": "CREATE_CLUSTER", "status": "RUNNING",
           "startTime": "2026-01-02T03:04:05.123456789Z"}
done:
  description: Whether the operation is C(DONE) (and did not fail).
  returned: success
  type: bool
  sample: false
msg:
  description: The operation, its target, status and seconds since it started, on one line.
  returned: always
  type: str
  sample: operation operation-1 (CREATE_CLUSTER on west) is RUNNING, 75 s since it started
polls:
  description: How many times this call read the operation.
  returned: success
  type: int
  sample: 6
api_retries:
  description: Each request retried after a 429, 5xx or a connection error, with the delay before the retry.
  returned: always
  type: list
  elements: dict
  sample: []
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp import auth, client as gcp_client
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.container import CONTAINER_API
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import GcpError
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.operations import OperationWatch, Poller
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.validation import check_name


def main():
    argument_spec = auth.gcp_argument_spec()
    argument_spec.update(
        name=dict(type='str', required=True),
        location=dict(type='str', required=True, aliases=['zone']),
        wait_timeout=dict(type='int', default=25),
        fail_on_timeout=dict(type='bool', default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not auth.HAS_GOOGLE_AUTH:
        module.fail_json(msg=missing_required_lib('google-auth'), exception=str(auth.GOOGLE_AUTH_IMPORT_ERROR))
    if not gcp_client.HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib('requests'), exception=str(gcp_client.REQUESTS_IMPORT_ERROR))
    params = module.params
    client = None
    try:
        url = '%s/projects/%s/locations/%s/operations/%s' % (
            CONTAINER_API, params['project'], check_name('location', params['location']), params['name'])
        credentials = auth.credentials_from_params(params)
        client = gcp_client.GcpClient(credentials, policy=gcp_client.RetryPolicy(retries=params['api_retries']),
                                      auth_remedy=auth.auth_remedy(params))
        # Every 2 s at first, at most every 10 s, and once more at the end of the wait.
        operation, done, polls, line = OperationWatch(client, Poller(first=2.0, cap=10.0)).watch(
            url, max(0, params['wait_timeout']))
    except (GcpError,) + auth.GOOGLE_AUTH_ERRORS as exc:
        if not isinstance(exc, GcpError):
            exc = auth.auth_failure(params, 'the credentials are not usable', exc)
        module.fail_json(msg=str(exc), api_retries=client.retried if client else [])
    if not done and params['fail_on_timeout']:
        module.fail_json(msg='%s: not done after waiting %d s' % (line, params['wait_timeout']), operation=operation,
                         done=False, polls=polls, api_retries=client.retried)
    module.exit_json(changed=False, operation=operation, done=done, msg=line, polls=polls,
                     api_retries=client.retried)


if __name__ == '__main__':
    main()
