#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: gcp_credentials_info
short_description: The account that Google Cloud credentials act as, and the file they come from
version_added: 0.1.0
description:
  - Loads the credentials the collection's GCP modules would use (the same options and E(GCP_*) variables) and
    returns the account they act as, for user and service account credentials alike.
  - A service account key names its account. Other credentials (a user's from
    C(gcloud auth application-default login), an access token, the metadata server's) get an access token, which
    Google's tokeninfo endpoint (C(https://oauth2.googleapis.com/tokeninfo)) describes; it names the account only
    when the token has the C(https://www.googleapis.com/auth/userinfo.email) scope, which is why that scope is asked
    for by default, as C(gke-gcloud-auth-plugin) asks for it.
  - Also returns the file the credentials come from (the key file, or the Application Default Credentials file),
    so that another program, such as the kubeconfig's C(gke-gcloud-auth-plugin), can use the same credentials.
  - Changes nothing; makes at most one token request and one tokeninfo request.
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
  scopes:
    description:
      - OAuth2 scopes of the access token. Defaults to C(https://www.googleapis.com/auth/cloud-platform) and
        C(https://www.googleapis.com/auth/userinfo.email); without the latter Google does not name a user.
      - If not set, the value of E(GCP_SCOPES) is used.
notes:
  - O(project) is required as for the other GCP modules (the group's C(module_defaults) set it) and not otherwise
    used.
  - With O(auth_kind=application) the credentials file is E(GOOGLE_APPLICATION_CREDENTIALS), else
    C(application_default_credentials.json) in E(CLOUDSDK_CONFIG) or C(~/.config/gcloud), as google-auth looks
    for it.
'''

EXAMPLES = r'''
- name: Find who the play acts as on Google Cloud
  meshbridge.istio_vm.gcp_credentials_info:
    project: my-project
    auth_kind: application
  register: gcp_account

- name: Make that account cluster admin
  meshbridge.istio_vm.cluster_admin_binding:
    context: west
    user: "{{ gcp_account.identity }}"
'''

RETURN = r'''
identity:
  description: The email of the account the credentials act as; null when Google names none (a token without the
    userinfo.email scope).
  returned: always
  type: str
  sample: someone@example.com
identity_source:
  description: How the account was found, or, with RV(identity) null, why it was not.
  returned: always
  type: str
  sample: Google's tokeninfo for the credentials' access token
credentials_file:
  description: The file the credentials come from (a service account key or an C(authorized_user) file); null for
    O(service_account_contents), an access token or the metadata server.
  returned: always
  type: str
  sample: /home/me/.config/gcloud/application_default_credentials.json
credentials_type:
  description: The C(type) of the credentials file (C(service_account), C(authorized_user), ...), when there is one.
  returned: always
  type: str
  sample: authorized_user
api_retries:
  description: Each tokeninfo request retried after a 429, 5xx or connection error, with the delay before the retry.
  returned: always
  type: list
  elements: dict
  sample: []
'''

import json

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp import auth, client as gcp_client
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import GcpApiError, GcpError


def _file_type(path):
    try:
        with open(path, encoding='utf-8') as handle:
            document = json.load(handle)
    except (OSError, ValueError):
        return None
    return document.get('type') if isinstance(document, dict) else None


def main():
    module = AnsibleModule(argument_spec=auth.gcp_argument_spec(), supports_check_mode=True)
    if not auth.HAS_GOOGLE_AUTH:
        module.fail_json(msg=missing_required_lib('google-auth'), exception=str(auth.GOOGLE_AUTH_IMPORT_ERROR))
    if not gcp_client.HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib('requests'), exception=str(gcp_client.REQUESTS_IMPORT_ERROR))
    params = module.params
    # The token needs no Authorization of its own to be described: a plain session, with the client's retries.
    tokeninfo_client = gcp_client.GcpClient(session=gcp_client.requests.Session(),
                                            policy=gcp_client.RetryPolicy(retries=params['api_retries']))

    def tokeninfo(token):
        try:
            return tokeninfo_client.get(auth.TOKENINFO_URI, params={'access_token': token})
        except GcpApiError as exc:
            if exc.status_code == 400:  # invalid_token: revoked or expired since it was issued
                raise auth.auth_failure(params, "Google's tokeninfo refused the credentials' access token", exc)
            raise

    try:
        credentials = auth.credentials_from_params(params, default_scopes=auth.IDENTITY_SCOPES)
        identity, source = auth.find_identity(credentials, params, tokeninfo)
    except (GcpError,) + auth.GOOGLE_AUTH_ERRORS as exc:
        if not isinstance(exc, GcpError):
            exc = auth.auth_failure(params, 'the credentials are not usable', exc)
        module.fail_json(msg=str(exc), api_retries=tokeninfo_client.retried)
    path = auth.credentials_file(params)
    module.exit_json(changed=False, identity=identity, identity_source=source, credentials_file=path,
                     credentials_type=_file_type(path) if path else None, api_retries=tokeninfo_client.retried)


if __name__ == '__main__':
    main()
