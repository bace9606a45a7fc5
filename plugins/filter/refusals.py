# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: refusals
short_description: For each setting, the first rule its value breaks, as a message with the fix
version_added: 0.2.0
author: meshbridge maintainers (@meshbridge)
description:
  - >-
    Takes the checks of a role's C(validate) entry point and returns one message for each setting whose value
    breaks a rule, naming the setting, its value, the one rule it breaks first, and the fix -
    C(<setting>: <value> <rule>; <fix>). An empty list when every value is good.
  - A check's O(_input[].shape) brings the rules of a shape several roles check (the same rules in each); its own
    O(_input[].rules) follow them, so a role's rule is only reported for a well-formed value.
options:
  _input:
    description: The checks, in the order their messages are wanted.
    type: list
    elements: dict
    required: true
    suboptions:
      param:
        description: The setting's name as the user writes it, such as V(gce_vm_instances[0].services[1].port).
        type: str
        required: true
      value:
        description: The setting's value.
        type: raw
      shape:
        description:
          - V(gcp_name) (a Compute Engine name), V(gke_cluster_name), V(dns_label) (a Kubernetes DNS-1123 label),
            V(gcp_zone) (a zone, not a region), V(gcp_project_id), V(gcp_machine_type), V(cidr) (a range without
            host bits), V(port) (1-65535).
        type: str
      rules:
        description: The role's own rules, each C({ok, rule, fix}); C(ok) is whether the value keeps the rule.
        type: list
        elements: dict
      apart_from:
        description: Ranges, each C({param, value}), that the value (a range) must not overlap; an empty one is skipped.
        type: list
        elements: dict
'''

EXAMPLES = r'''
- name: Check the cluster's zone and node count
  ansible.builtin.assert:
    that: refused | length == 0
    fail_msg: "{{ refused }}"
    quiet: true
  vars:
    refused: "{{ checks | meshbridge.istio_vm.refusals }}"
    checks:
      - param: gke_cluster_zone
        value: "{{ gke_cluster_zone }}"
        shape: gcp_zone
      - param: gke_cluster_num_nodes
        value: "{{ gke_cluster_num_nodes }}"
        rules:
          - ok: "{{ gke_cluster_num_nodes | int >= 1 }}"
            rule: is below 1
            fix: a cluster needs at least 1 node
'''

RETURN = r'''
_value:
  description: >-
    One message for each setting that breaks a rule, for example
    C(gke_cluster_zone: "us-west2" is a region, not a zone; give one of its zones, such as us-west2-a (...)).
  type: list
  elements: str
'''

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.refusals import refusals as check_refusals


def refusals(checks):
    try:
        return check_refusals([
            dict(check, rules=[dict(rule, ok=boolean(rule['ok'], strict=True)) for rule in check.get('rules') or []])
            for check in checks])
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError('meshbridge.istio_vm.refusals: malformed check: %s' % exc)


class FilterModule(object):

    def filters(self):
        return {'refusals': refusals}
