#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: kubeconfig_entry
short_description: One cluster, user and context in a kubeconfig file, merged with the others
version_added: 0.1.0
description:
  - Adds, updates or removes a cluster, a user and a context of the given names in a kubeconfig file, leaving
    every other entry as it is (what C(gcloud container clusters get-credentials) plus C(kubectx west=...) do).
  - With O(state=absent) the context goes, and the cluster and user entries too unless another context still
    refers to them.
  - The user authenticates through the C(gke-gcloud-auth-plugin) exec plugin, written the way gcloud writes it,
    or with a static bearer token (for environments where the plugin cannot get Google credentials).
  - The plugin uses gcloud's active account unless O(application_default_credentials) makes it use Application
    Default Credentials (its C(--use_application_default_credentials) flag), from O(credentials_file) when given;
    kubectl, M(kubernetes.core.k8s) and istioctl then act as the same account as the GCP modules.
  - The file is written atomically with mode 0600; a symlinked O(path) is written where the link points.
author:
  - meshbridge maintainers (@meshbridge)
extends_documentation_fragment:
  - meshbridge.istio_vm.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff shows this entry's cluster, user and context and the current context; tokens are redacted.
  idempotent:
    support: full
options:
  path:
    description: The kubeconfig file.
    type: path
    default: ~/.kube/config
  state:
    description: Whether the entry should exist.
    type: str
    choices: [present, absent]
    default: present
  context:
    description: Name of the context, for example V(west).
    type: str
    required: true
  cluster_name:
    description: Name of the cluster entry, for example V(gke_my-project_us-west2-a_west) as gcloud names it.
    type: str
    required: true
  user_name:
    description: Name of the user entry; defaults to O(cluster_name), as gcloud does.
    type: str
  server:
    description: The API server URL, for example V(https://203.0.113.10). Required with O(state=present).
    type: str
  certificate_authority_data:
    description: The cluster CA certificate, base64-encoded PEM (GKE's C(masterAuth.clusterCaCertificate)), not
      the PEM text itself. Required with O(state=present).
    type: str
  auth:
    description: How the user authenticates. V(gke_auth_plugin) runs C(gke-gcloud-auth-plugin); V(token) uses O(token).
    type: str
    choices: [gke_auth_plugin, token]
    default: gke_auth_plugin
  token:
    description: Bearer token, required with O(auth=token) and O(state=present).
    type: str
  application_default_credentials:
    description:
      - With O(auth=gke_auth_plugin), run the plugin with C(--use_application_default_credentials), so that it gets
        its token from Application Default Credentials (E(GOOGLE_APPLICATION_CREDENTIALS), else gcloud's
        C(application_default_credentials.json), else the metadata server) instead of gcloud's active account.
    type: bool
    default: false
  credentials_file:
    description:
      - With O(application_default_credentials), the credentials file the plugin uses (a service account key or
        an C(authorized_user) file), set as E(GOOGLE_APPLICATION_CREDENTIALS) in the plugin's environment.
      - M(meshbridge.istio_vm.gcp_credentials_info) returns the file the GCP modules' credentials come from.
    type: path
  namespace:
    description: Default namespace of the context.
    type: str
  set_current:
    description: Make this the current context.
    type: bool
    default: true
'''

EXAMPLES = r'''
- name: Context west for the tutorial's cluster
  meshbridge.istio_vm.kubeconfig_entry:
    context: west
    cluster_name: gke_my-project_us-west2-a_west
    server: "https://{{ west.cluster.endpoint }}"
    certificate_authority_data: "{{ west.cluster.masterAuth.clusterCaCertificate }}"
'''

RETURN = r'''
path:
  description: The kubeconfig file written (or, in check mode, that would be written).
  returned: always
  type: str
  sample: /home/me/.kube/config
context:
  description: The context name.
  returned: always
  type: str
  sample: west
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import kubeconfig


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', default='~/.kube/config'),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            context=dict(type='str', required=True),
            cluster_name=dict(type='str', required=True),
            user_name=dict(type='str'),
            server=dict(type='str'),
            certificate_authority_data=dict(type='str'),
            auth=dict(type='str', default='gke_auth_plugin', choices=['gke_auth_plugin', 'token']),
            token=dict(type='str', no_log=True),
            application_default_credentials=dict(type='bool', default=False),
            credentials_file=dict(type='path'),
            namespace=dict(type='str'),
            set_current=dict(type='bool', default=True),
        ),
        required_if=[('state', 'present', ['server', 'certificate_authority_data'])],
        supports_check_mode=True,
    )
    if not kubeconfig.HAS_YAML:
        module.fail_json(msg=missing_required_lib('PyYAML'), exception=str(kubeconfig.YAML_IMPORT_ERROR))
    params = module.params
    # token only matters for an entry being written; state=absent with auth=token needs none.
    if params['state'] == 'present' and params['auth'] == 'token' and not params['token']:
        module.fail_json(msg='auth=token needs token (the bearer token written for the user) with state=present')
    uses_adc = params['application_default_credentials'] and params['auth'] == 'gke_auth_plugin'
    if params['credentials_file'] and not uses_adc:
        module.fail_json(msg='credentials_file is for the plugin\'s Application Default Credentials: it needs '
                             'auth=gke_auth_plugin and application_default_credentials=true')
    if params['state'] == 'present' and not params['server'].startswith('https://'):
        module.fail_json(msg='server=%r must be an https:// URL, for example https://203.0.113.10' % params['server'])
    try:
        if params['state'] == 'present':
            kubeconfig.check_certificate_authority_data(params['certificate_authority_data'])
        current = kubeconfig.load(params['path'])
        wanted = kubeconfig.merge(current, params)
        changed = wanted != current
        if changed and not module.check_mode:
            kubeconfig.write(module, params['path'], wanted)
    except (kubeconfig.KubeconfigError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=changed, path=params['path'], context=params['context'],
                     diff={'before': kubeconfig.entry_view(current, params), 'after': kubeconfig.entry_view(wanted, params)})


if __name__ == '__main__':
    main()
