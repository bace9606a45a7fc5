# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: workload_entry_health
short_description: Each VM's WorkloadEntry and whether it is ready
version_added: 0.1.0
author: meshbridge maintainers (@meshbridge)
description:
  - Finds, among the WorkloadEntries of a namespace (as C(kubernetes.core.k8s_info) returns them), the one of each VM
    and reads its C(Healthy) condition, which istiod sets from the health reports of the VM's sidecar.
  - An entry is ready when it exists and reports C(Healthy=True); with O(require_health=false), an entry without
    health reports (its WorkloadGroup has no probe) is ready too, while C(Healthy=False) never is.
options:
  _input:
    description: WorkloadEntry objects.
    type: list
    elements: dict
    required: true
  wanted:
    description: For each VM, the names its entry may have (istiod's C(<group>-<ip>), a static C(<group>-<ip-with-dashes>)).
    type: dict
    required: true
  require_health:
    description: Whether an entry must report C(Healthy=True) to be ready.
    type: bool
    default: true
'''

EXAMPLES = r'''
- name: Wait until each VM's entry is healthy
  kubernetes.core.k8s_info:
    api_version: networking.istio.io/v1
    kind: WorkloadEntry
    namespace: default
  register: entries
  until: >-
    entries.resources | meshbridge.istio_vm.workload_entry_health({'istio-gce': ['istio-gce-10.168.0.20']})
    | dict2items | rejectattr('value.ready') | list | length == 0
  retries: 30
  delay: 2
'''

RETURN = r'''
_value:
  description: For each VM of O(wanted), what was found.
  type: dict
  contains:
    name:
      description: The entry's name; empty when there is none.
      type: string
    address:
      description: The entry's address.
      type: string
    labels:
      description: The entry's labels (what a Service selects on).
      type: dict
    health:
      description: The status of its C(Healthy) condition (C(True), C(False), C(Unknown)); empty when not reported.
      type: string
    message:
      description: The condition's message, the reason of an unhealthy entry.
      type: string
    ready:
      description: Whether the entry exists and is healthy as O(require_health) asks.
      type: bool
'''

from ansible.errors import AnsibleFilterError


def _healthy_condition(entry):
    conditions = (entry.get('status') or {}).get('conditions') or []
    return next((condition for condition in conditions if condition.get('type') == 'Healthy'), {})


def workload_entry_health(entries, wanted, require_health=True):
    if not isinstance(wanted, dict):
        raise AnsibleFilterError('workload_entry_health: wanted must map each VM to the names its entry may have')
    by_name = dict(((entry.get('metadata') or {}).get('name'), entry) for entry in entries or [])
    found = {}
    for vm, names in wanted.items():
        entry = next((by_name[name] for name in names if name in by_name), None)
        if entry is None:
            found[vm] = {'name': '', 'address': '', 'labels': {}, 'health': '', 'message': '', 'ready': False}
            continue
        condition = _healthy_condition(entry)
        health = condition.get('status', '')
        spec = entry.get('spec') or {}
        found[vm] = {
            'name': entry['metadata']['name'],
            'address': spec.get('address', ''),
            'labels': spec.get('labels') or {},
            'health': health,
            'message': condition.get('message', ''),
            'ready': health == 'True' or (not require_health and health == ''),
        }
    return found


class FilterModule(object):

    def filters(self):
        return {'workload_entry_health': workload_entry_health}
