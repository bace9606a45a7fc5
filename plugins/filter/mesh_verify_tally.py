# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: mesh_verify_tally
short_description: Which mesh checks were asked for, and how many of them were proven
version_added: 0.2.0
author: meshbridge maintainers (@meshbridge)
description:
  - Lists the checks the role C(meshbridge.istio_vm.mesh_verify) is asked for, from its inputs alone (not from the
    checks it recorded) - for each VM its C(WorkloadEntry); for each service of each VM C(Service selects VM) and,
    with O(grpc), C(mTLS call) and C(cleartext refused); with O(storefront) the four storefront steps (the home and
    product pages only in check mode, which posts nothing); with O(kiali) the C(Kiali graph); with O(from_cluster)
    C(pod to VM) for each service of each VM (not in check mode, which starts no client in the cluster); with
    O(from_vms) C(VM to cluster) for each VM.
  - A check asked for that recorded no result, or was skipped, did not run and proves nothing, so it is returned as
    failed with the reason. A check not asked for (turned off on purpose) stays skipped and counts as unproven.
options:
  _input:
    description: The recorded results, each C({check, target, status, detail}).
    type: list
    elements: dict
    required: true
  vms:
    description: The VM list (C(mesh_verify_vms)), each with a C(name) and C(services), each service with a C(name).
    type: list
    elements: dict
    required: true
  grpc:
    description: Whether the mTLS and cleartext calls were asked for.
    type: bool
    default: true
  storefront:
    description: Whether the storefront checks were asked for.
    type: bool
    default: false
  kiali:
    description: Whether the Kiali graph check was asked for.
    type: bool
    default: false
  from_cluster:
    description: Whether the calls from a client pod in the cluster to each VM service (C(pod to VM)) were asked for.
    type: bool
    default: false
    version_added: 0.2.0
  from_vms:
    description: Whether the call from each VM to a cluster service (C(VM to cluster)) was asked for.
    type: bool
    default: false
    version_added: 0.2.0
  check_mode:
    description: >-
      A check run, which puts nothing in a cart, orders nothing and starts no client in the cluster (so asks for no
      C(pod to VM) check).
    type: bool
    default: false
'''

EXAMPLES = r'''
- name: Count the checks
  ansible.builtin.set_fact:
    tally: "{{ mesh_verify_results | meshbridge.istio_vm.mesh_verify_tally(mesh_verify_vms, grpc=true) }}"

- name: Count the checks, with those made from inside the mesh
  ansible.builtin.set_fact:
    tally: >-
      {{ mesh_verify_results | meshbridge.istio_vm.mesh_verify_tally(mesh_verify_vms, grpc=false, from_cluster=true,
         from_vms=true, check_mode=ansible_check_mode) }}
'''

RETURN = r'''
_value:
  description: The tally.
  type: dict
  contains:
    results:
      description: The results, each asked-for check that did not run turned into a failed one (appended when it recorded nothing).
      type: list
      elements: dict
    required:
      description: How many checks were asked for, so must pass.
      type: int
    proven:
      description: How many checks passed.
      type: int
    failed:
      description: How many checks failed (including those asked for that did not run).
      type: int
    unproven:
      description: How many checks were not asked for (skipped on purpose) and prove nothing.
      type: int
    missing:
      description: The C({check, target}) of each check asked for that did not pass.
      type: list
      elements: dict
'''

from ansible.errors import AnsibleFilterError

STOREFRONT = ('storefront home', 'storefront product page', 'storefront add to cart', 'storefront checkout')
STOREFRONT_POSTS = ('storefront add to cart', 'storefront checkout')


def asked_checks(vms, grpc=True, storefront=False, kiali=False, check_mode=False, from_cluster=False, from_vms=False):
    """(check, target) for each check the inputs ask for; a None target matches any (the storefront's are URLs)."""
    asked = []
    for vm in vms:
        asked.append(('WorkloadEntry', vm['name']))
    for vm in vms:
        for service in vm.get('services') or []:
            target = '%s/%s' % (vm['name'], service['name'])
            asked.append(('Service selects VM', target))
            if grpc:
                asked.extend([('mTLS call', target), ('cleartext refused', target)])
            # A check run creates nothing in the cluster, so it starts no client there.
            if from_cluster and not check_mode:
                asked.append(('pod to VM', target))
    if from_vms:
        asked.extend(('VM to cluster', vm['name']) for vm in vms)
    if storefront:
        asked.extend((check, None) for check in STOREFRONT if not (check_mode and check in STOREFRONT_POSTS))
    if kiali:
        asked.append(('Kiali graph', None))
    return asked


def _matches(result, check, target):
    return result.get('check') == check and (target is None or result.get('target') == target)


def mesh_verify_tally(results, vms, grpc=True, storefront=False, kiali=False, check_mode=False, from_cluster=False,
                      from_vms=False):
    if not isinstance(results, list) or not isinstance(vms, list):
        raise AnsibleFilterError('mesh_verify_tally: the results and vms must be lists')
    results = [dict(result) for result in results]
    asked = asked_checks(vms, grpc, storefront, kiali, check_mode, from_cluster, from_vms)
    missing = []
    for check, target in asked:
        found = [result for result in results if _matches(result, check, target)]
        for result in found:
            if result.get('status') not in ('passed', 'failed'):
                result['status'] = 'failed'
                result['detail'] = 'asked for, but did not run, so nothing is proven: %s' % result.get('detail', '')
        if not found:
            results.append({'check': check, 'target': target or '-', 'status': 'failed',
                            'detail': 'asked for, but no result was recorded: the check did not run'})
        if not any(result['status'] == 'passed' for result in found):
            missing.append({'check': check, 'target': target or '-'})
    statuses = [result.get('status') for result in results]
    return {
        'results': results,
        'required': len(asked),
        'proven': statuses.count('passed'),
        'failed': statuses.count('failed'),
        'unproven': statuses.count('skipped'),
        'missing': missing,
    }


class FilterModule(object):

    def filters(self):
        return {'mesh_verify_tally': mesh_verify_tally}
