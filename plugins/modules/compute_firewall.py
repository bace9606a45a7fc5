#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: compute_firewall
short_description: An ingress allow rule of a Compute Engine VPC network
version_added: 0.1.0
description:
  - Creates, updates (PATCH of the differing fields only) or deletes a VPC firewall rule that allows ingress from
    source ranges or tags to instances with the target tags on the given protocols and ports.
  - The fields compared are network, direction, priority, description, source ranges and tags, target tags and
    allowed protocols/ports; list order does not matter.
author:
  - meshbridge maintainers (@meshbridge)
extends_documentation_fragment:
  - meshbridge.istio_vm.attributes
  - meshbridge.istio_vm.attributes.action_group_gcp
  - meshbridge.istio_vm.gcp
  - meshbridge.istio_vm.gcp.operations
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff shows the managed fields before and after.
  idempotent:
    support: full
options:
  name:
    description: Name of the rule (RFC 1035, 1-63 characters).
    type: str
    required: true
  state:
    description: Whether the rule should exist.
    type: str
    choices: [present, absent]
    default: present
  network:
    description: The VPC network, by name or URL. Cannot change on an existing rule.
    type: str
    default: default
  description:
    description: A description of the rule.
    type: str
    default: ''
  priority:
    description: Priority, 0-65535; lower wins.
    type: int
    default: 1000
  source_ranges:
    description: Source CIDR ranges the rule allows.
    type: list
    elements: str
    default: []
  source_tags:
    description: Network tags of source instances the rule allows.
    type: list
    elements: str
    default: []
  target_tags:
    description: Network tags of the instances the rule applies to; empty means every instance of the network.
    type: list
    elements: str
    default: []
  allowed:
    description: What the rule allows.
    type: list
    elements: dict
    default: []
    suboptions:
      protocol:
        description: V(tcp), V(udp), V(icmp), V(sctp), V(esp), V(ah), V(all) or an IP protocol number.
        type: str
        required: true
      ports:
        description: Ports or ranges (V(3550), V(8000-8080)); only for tcp, udp and sctp. Empty means all ports.
        type: list
        elements: str
        default: []
  operation_timeout:
    default: 300
notes:
  - Replaces C(google.cloud.gcp_compute_firewall) 1.10.2, measured against the lab's compute stand-in (and read in
    its source). Under C(--check) that module is skipped, so nothing is predicted; it has no diff; it polls
    operations every second with no time limit; and with 20% injected HTTP 503 answers its first GET already
    failed the task (it never retries). Its in-place update (PATCH) and idempotence did work.
seealso:
  - module: meshbridge.istio_vm.compute_instance
'''

EXAMPLES = r'''
- name: Let the cluster's pods reach productcatalogservice on the VM, and nothing else
  meshbridge.istio_vm.compute_firewall:
    name: k8s-to-istio-gce
    project: my-project
    auth_kind: application
    source_ranges: ["10.4.0.0/14"]
    target_tags: [istio-gce]
    allowed:
      - protocol: tcp
        ports: ["3550"]
'''

RETURN = r'''
firewall:
  description: The rule as the API returns it; empty when absent or, in check mode, not yet created.
  returned: always
  type: dict
  sample: {"name": "k8s-to-istio-gce", "sourceRanges": ["10.4.0.0/14"], "targetTags": ["istio-gce"],
           "allowed": [{"IPProtocol": "tcp", "ports": ["3550"]}]}
changed_fields:
  description: The managed fields that differed (and were or, in check mode, would be changed).
  returned: always
  type: list
  elements: str
  sample: [sourceRanges]
operations:
  description: Each long-running operation waited for, with its final status, polls and seconds taken.
  returned: always
  type: list
  elements: dict
  sample: [{"operation": "operation-1", "type": "insert", "status": "DONE", "polls": 3, "elapsed": 2.1}]
api_retries:
  description: Each request retried after a 429, 5xx or connection error, with the delay before the retry.
  returned: always
  type: list
  elements: dict
  sample: [{"method": "POST", "url": "https://compute.googleapis.com/...", "cause": 503, "attempt": 1, "delay": 0.31}]
identity:
  description: The service account the module authenticated as, when the credentials name one.
  returned: when known
  type: str
  sample: deployer@my-project.iam.gserviceaccount.com
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.auth import gcp_argument_spec
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.compute import Firewall
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.runner import run_resource_module


def main():
    argument_spec = gcp_argument_spec()
    argument_spec.update(
        name=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        network=dict(type='str', default='default'),
        description=dict(type='str', default=''),
        priority=dict(type='int', default=1000),
        source_ranges=dict(type='list', elements='str', default=[]),
        source_tags=dict(type='list', elements='str', default=[]),
        target_tags=dict(type='list', elements='str', default=[]),
        allowed=dict(type='list', elements='dict', default=[], options=dict(
            protocol=dict(type='str', required=True),
            ports=dict(type='list', elements='str', default=[]),
        )),
        operation_timeout=dict(type='int', default=300),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_resource_module(module, Firewall)


if __name__ == '__main__':
    main()
