# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Credentials from the same options and GCP_* environment variables as google.cloud's modules."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

from ansible.module_utils.basic import env_fallback

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import GcpInputError

try:
    import google.auth
    from google.oauth2 import credentials as oauth2_credentials
    from google.oauth2 import service_account
    HAS_GOOGLE_AUTH = True
    GOOGLE_AUTH_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the controller's Python
    HAS_GOOGLE_AUTH = False
    GOOGLE_AUTH_IMPORT_ERROR = exc

CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform'


def gcp_argument_spec():
    """The connection options every GCP module of this collection takes (see doc fragment meshbridge.istio_vm.gcp)."""
    return dict(
        project=dict(type='str', required=True, fallback=(env_fallback, ['GCP_PROJECT'])),
        auth_kind=dict(type='str', required=True, choices=['application', 'serviceaccount', 'accesstoken'],
                       fallback=(env_fallback, ['GCP_AUTH_KIND'])),
        service_account_file=dict(type='path', fallback=(env_fallback, ['GCP_SERVICE_ACCOUNT_FILE'])),
        service_account_contents=dict(type='jsonarg', no_log=True, fallback=(env_fallback, ['GCP_SERVICE_ACCOUNT_CONTENTS'])),
        access_token=dict(type='str', no_log=True, fallback=(env_fallback, ['GCP_ACCESS_TOKEN'])),
        scopes=dict(type='list', elements='str', fallback=(env_fallback, ['GCP_SCOPES'])),
        api_retries=dict(type='int', default=6),
    )


def credentials_from_params(params):
    """google-auth credentials for ``params`` (the module's parameters); raises GcpInputError naming what is missing."""
    kind = params['auth_kind']
    scopes = params.get('scopes') or [CLOUD_PLATFORM_SCOPE]
    if kind != 'serviceaccount' and (params.get('service_account_file') or params.get('service_account_contents')):
        raise GcpInputError('service_account_file and service_account_contents need auth_kind=serviceaccount (auth_kind is %s)' % kind)
    if kind != 'accesstoken' and params.get('access_token'):
        raise GcpInputError('access_token needs auth_kind=accesstoken (auth_kind is %s)' % kind)
    if kind == 'application':
        credentials, dummy = google.auth.default(scopes=scopes)
        return credentials
    if kind == 'serviceaccount':
        return _service_account_credentials(params, scopes)
    if not params.get('access_token'):
        raise GcpInputError('auth_kind=accesstoken needs access_token (or GCP_ACCESS_TOKEN)')
    return oauth2_credentials.Credentials(params['access_token'], scopes=scopes)


def _service_account_credentials(params, scopes):
    if params.get('service_account_file'):
        path = os.path.realpath(os.path.expanduser(params['service_account_file']))
        try:
            with open(path, encoding='utf-8') as handle:
                info = json.load(handle)
        except (OSError, ValueError) as exc:
            raise GcpInputError('service_account_file %s cannot be read as a service account key: %s' % (path, exc))
    elif params.get('service_account_contents'):
        try:
            info = json.loads(params['service_account_contents'])
        except ValueError as exc:
            raise GcpInputError('service_account_contents is not JSON: %s' % exc)
    else:
        raise GcpInputError('auth_kind=serviceaccount needs service_account_file or service_account_contents '
                            '(or GCP_SERVICE_ACCOUNT_FILE)')
    try:
        return service_account.Credentials.from_service_account_info(info, scopes=scopes)
    except (ValueError, KeyError) as exc:
        raise GcpInputError('the service account key is not usable: %s' % exc)


def identity_of(credentials):
    """The account the credentials act as, when they name one (service accounts do; user tokens do not)."""
    return getattr(credentials, 'service_account_email', None) or None
