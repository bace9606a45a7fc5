# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every GCP resource module does after building its AnsibleModule: credentials, client, reconcile, report."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp import auth, client as gcp_client
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import GcpError


def run_resource_module(module, resource_class):
    """Reconcile ``resource_class(client, module.params)`` to ``module.params['state']`` and exit the module. A
    module without ``state`` (a read-only check) gets ``run(None, check_mode)``."""
    if not auth.HAS_GOOGLE_AUTH:
        module.fail_json(msg=missing_required_lib('google-auth'), exception=str(auth.GOOGLE_AUTH_IMPORT_ERROR))
    if not gcp_client.HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib('requests'), exception=str(gcp_client.REQUESTS_IMPORT_ERROR))
    resource = None
    try:
        # Loading credentials makes no API call; the resource checks every parameter before run() calls the API.
        # The access token is fetched by run()'s first request, a read: refused credentials stop the module there.
        credentials = auth.credentials_from_params(module.params)
        client = gcp_client.GcpClient(credentials, policy=gcp_client.RetryPolicy(retries=module.params['api_retries']),
                                      auth_remedy=auth.auth_remedy(module.params))
        resource = resource_class(client, module.params)
        result = resource.run(module.params.get('state'), module.check_mode)
    except (GcpError,) + auth.GOOGLE_AUTH_ERRORS as exc:
        if not isinstance(exc, GcpError):  # raised past the client (it converts what it sees): still a message
            exc = auth.auth_failure(module.params, 'the credentials are not usable', exc)
        failure = {'msg': str(exc)}
        if resource is not None:
            failure.update(operations=resource.waiter.progress, api_retries=resource.client.retried)
            for warning in resource.warnings:
                module.warn(warning)
        failure.update(getattr(exc, 'details', None) or {})
        module.fail_json(**failure)
    for warning in result.pop('warnings', []):
        module.warn(warning)
    identity = auth.identity_of(credentials)
    if identity:
        result['identity'] = identity
    module.exit_json(**result)
