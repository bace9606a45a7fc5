#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: cluster_admin_binding
short_description: Bind a ClusterRole to the user the kubeconfig authenticates as, after checking that it is that user
version_added: 0.1.0
description:
  - The tutorial's C(kubectl create clusterrolebinding cluster-admin-binding --clusterrole=cluster-admin
    --user=ACCOUNT), made safe to repeat and checked first.
  - Before binding, asks the API server who the connection's credentials are (a C(SelfSubjectReview), what
    C(kubectl auth whoami) asks) and refuses, naming both accounts, when that is not O(user). On GKE the binding
    is what lets the account act in the cluster; bound to another account, it would leave the caller, who runs
    every later step, without the rights it was made for.
  - Creates the ClusterRoleBinding, or sets its subjects to O(user) alone, by server-side apply (field manager
    C(meshbridge)). A binding of that name for another ClusterRole is refused (a binding's C(roleRef) cannot change).
author:
  - meshbridge maintainers (@meshbridge)
extends_documentation_fragment:
  - meshbridge.istio_vm.attributes
  - meshbridge.istio_vm.attributes.action_group_istio_vm
  - meshbridge.istio_vm.kube
attributes:
  check_mode:
    support: full
    details: Asks who the caller is (a review, which changes nothing) and reads the binding; writes nothing.
  diff_mode:
    support: full
    details: The diff shows the binding's C(roleRef) and C(subjects) before and after.
  idempotent:
    support: full
options:
  user:
    description:
      - The user to bind, as the cluster names it; on GKE the email of the Google account or service account.
      - Required with O(state=present).
    type: str
  name:
    description: Name of the ClusterRoleBinding.
    type: str
    default: cluster-admin-binding
  cluster_role:
    description: The ClusterRole to bind.
    type: str
    default: cluster-admin
  check_caller:
    description:
      - Refuse to bind O(user) unless the API server authenticates the connection as O(user).
      - Turn off only to bind an account other than the caller on purpose (the caller then needs its rights from
        elsewhere, such as GKE's IAM roles).
    type: bool
    default: true
  state:
    description: Whether the binding should exist.
    type: str
    choices: [present, absent]
    default: present
notes:
  - SelfSubjectReview is served by Kubernetes 1.28 and later (every GKE version still supported); every
    authenticated user may create one (ClusterRole C(system:basic-user)).
'''

EXAMPLES = r'''
- name: Make the account the play authenticates as cluster admin
  meshbridge.istio_vm.cluster_admin_binding:
    kubeconfig: ~/.kube/config
    context: west
    user: someone@example.com
    name: user-admin-binding
'''

RETURN = r'''
caller:
  description: The user name the API server authenticated the connection as (null with O(state=absent)).
  returned: always
  type: str
  sample: someone@example.com
binding:
  description: The ClusterRoleBinding as the cluster holds it afterwards (in check mode, as it would be); null
    when absent.
  returned: always
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import kube

RBAC = 'rbac.authorization.k8s.io'
API_VERSION = RBAC + '/v1'
KIND = 'ClusterRoleBinding'


class BindingError(Exception):
    """The binding cannot be made as asked; the message names the fix."""


def wanted_binding(params):
    return {'apiVersion': API_VERSION, 'kind': KIND, 'metadata': {'name': params['name']},
            'roleRef': {'apiGroup': RBAC, 'kind': 'ClusterRole', 'name': params['cluster_role']},
            'subjects': [{'apiGroup': RBAC, 'kind': 'User', 'name': params['user']}]}


def view(binding):
    """The part of a binding this module manages: what the diff shows and what decides a change."""
    if binding is None:
        return {}
    return {'roleRef': binding.get('roleRef'),
            'subjects': [{key: subject.get(key) for key in ('apiGroup', 'kind', 'name', 'namespace')
                          if subject.get(key) is not None}
                         for subject in binding.get('subjects') or []]}


def mismatch_message(caller, params, source):
    return ('The Kubernetes credentials (%s) authenticate to the cluster as %s, but ClusterRole %s would be bound to '
            '%s: every later step runs as %s, whom this binding would not help. Make both the same account: let the '
            "kubeconfig's gke-gcloud-auth-plugin use the credentials the GCP modules use (kubeconfig_entry with "
            'application_default_credentials and credentials_file, as the gke_cluster role writes it), or bind the '
            'account the kubeconfig authenticates as'
            % (source, caller, params['cluster_role'], params['user'], caller))


def reconcile(client, params, check_mode):
    """``(changed, caller, before, after)`` for the binding of ``params``."""
    current = client.get(API_VERSION, KIND, params['name'])
    if params['state'] == 'absent':
        if current is not None and not check_mode:
            client.delete(API_VERSION, KIND, params['name'])
        return current is not None, None, current, None
    caller = client.whoami().get('username')
    if params['check_caller'] and caller != params['user']:
        raise BindingError(mismatch_message(caller, params, client.source))
    wanted = wanted_binding(params)
    if current is not None and view(current)['roleRef'] != wanted['roleRef']:
        raise BindingError('ClusterRoleBinding %s binds ClusterRole %s, not %s, and a binding\'s roleRef cannot '
                           'change: delete it (kubectl delete clusterrolebinding %s) or choose another name'
                           % (params['name'], (view(current)['roleRef'] or {}).get('name'), params['cluster_role'],
                              params['name']))
    if current is not None and view(current) == view(wanted):
        return False, caller, current, current
    after = wanted if check_mode else client.apply(wanted)
    return True, caller, current, after


def main():
    argument_spec = dict(kube.KUBE_AUTH_ARG_SPEC)
    argument_spec.update(
        user=dict(type='str'),
        name=dict(type='str', default='cluster-admin-binding'),
        cluster_role=dict(type='str', default='cluster-admin'),
        check_caller=dict(type='bool', default=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
    )
    module = AnsibleModule(argument_spec=argument_spec, required_if=[('state', 'present', ['user'])],
                           supports_check_mode=True)
    kube.fail_without_kubernetes(module)
    try:
        client = kube.connect(module.params, discovery_cache_dir=module.tmpdir)
        changed, caller, before, after = reconcile(client, module.params, module.check_mode)
    except (BindingError, kube.KubeError) as error:
        module.fail_json(msg=str(error))
    module.exit_json(changed=changed, caller=caller, binding=after,
                     diff={'before': view(before), 'after': view(after)})


if __name__ == '__main__':
    main()
