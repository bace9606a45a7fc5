# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Credentials from the same options and GCP_* environment variables as google.cloud's modules."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

from ansible.module_utils.basic import env_fallback

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import (
    GcpAuthError, GcpInputError, describe_cause)

try:
    import google.auth
    from google.auth import exceptions as google_auth_exceptions
    from google.oauth2 import credentials as oauth2_credentials
    from google.oauth2 import service_account
    HAS_GOOGLE_AUTH = True
    GOOGLE_AUTH_IMPORT_ERROR = None
    GOOGLE_AUTH_ERRORS = (google_auth_exceptions.GoogleAuthError,)
except ImportError as exc:  # pragma: no cover - depends on the controller's Python
    HAS_GOOGLE_AUTH = False
    GOOGLE_AUTH_IMPORT_ERROR = exc
    GOOGLE_AUTH_ERRORS = ()

CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform'

# What to do when the credentials of each auth_kind are missing, unreadable or refused.
_REMEDY = {
    'application': 'For auth_kind=application run `gcloud auth application-default login` on the controller (or set '
                   'GOOGLE_APPLICATION_CREDENTIALS to a key file), or use auth_kind=serviceaccount with '
                   'service_account_file (GCP_AUTH_KIND=serviceaccount, GCP_SERVICE_ACCOUNT_FILE)',
    'serviceaccount': 'For auth_kind=serviceaccount give service_account_file (or GCP_SERVICE_ACCOUNT_FILE) or '
                      'service_account_contents a current JSON key of an existing service account: '
                      '`gcloud iam service-accounts keys create key.json --iam-account=ACCOUNT`',
    'accesstoken': 'For auth_kind=accesstoken give access_token (or GCP_ACCESS_TOKEN) a current token: '
                   '`gcloud auth print-access-token`',
}


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


def auth_remedy(params):
    """The fix for missing or refused credentials of ``params['auth_kind']``, naming the parameters."""
    return _REMEDY.get(params.get('auth_kind'), _REMEDY['application'])


def auth_failure(params, what, exc):
    """A GcpAuthError: ``what`` failed because of ``exc``, followed by the fix."""
    return GcpAuthError('%s: %s. %s' % (what, describe_cause(exc), auth_remedy(params)))


def credentials_from_params(params):
    """google-auth credentials for ``params`` (the module's parameters). Loading makes no request; raises
    GcpInputError for contradicting parameters and GcpAuthError for credentials that are missing or unreadable."""
    kind = params['auth_kind']
    scopes = params.get('scopes') or [CLOUD_PLATFORM_SCOPE]
    if kind != 'serviceaccount' and (params.get('service_account_file') or params.get('service_account_contents')):
        raise GcpInputError('service_account_file and service_account_contents need auth_kind=serviceaccount (auth_kind is %s)' % kind)
    if kind != 'accesstoken' and params.get('access_token'):
        raise GcpInputError('access_token needs auth_kind=accesstoken (auth_kind is %s)' % kind)
    if kind == 'application':
        try:
            credentials, dummy = google.auth.default(scopes=scopes)
        except GOOGLE_AUTH_ERRORS + (OSError, ValueError) as exc:
            raise auth_failure(params, 'auth_kind=application found no usable Application Default Credentials', exc)
        return credentials
    if kind == 'serviceaccount':
        return _service_account_credentials(params, scopes)
    if not params.get('access_token'):
        raise GcpInputError('auth_kind=accesstoken needs access_token (or GCP_ACCESS_TOKEN)')
    return oauth2_credentials.Credentials(params['access_token'], scopes=scopes)


def _service_account_credentials(params, scopes):
    if params.get('service_account_file'):
        path = os.path.realpath(os.path.expanduser(params['service_account_file']))
        source = 'service_account_file (GCP_SERVICE_ACCOUNT_FILE) %s' % path
        try:
            with open(path, encoding='utf-8') as handle:
                info = json.load(handle)
        except (OSError, ValueError) as exc:
            raise auth_failure(params, '%s cannot be read as a JSON key' % source, exc)
    elif params.get('service_account_contents'):
        source = 'service_account_contents'
        try:
            info = json.loads(params['service_account_contents'])
        except ValueError as exc:
            raise auth_failure(params, 'service_account_contents is not JSON', exc)
    else:
        raise GcpInputError('auth_kind=serviceaccount needs service_account_file or service_account_contents '
                            '(or GCP_SERVICE_ACCOUNT_FILE)')
    if not isinstance(info, dict):
        raise GcpAuthError('%s is not a service account key: it holds a JSON %s, not an object. %s'
                           % (source, type(info).__name__, auth_remedy(params)))
    try:
        return service_account.Credentials.from_service_account_info(info, scopes=scopes)
    except GOOGLE_AUTH_ERRORS + (ValueError, KeyError) as exc:
        raise auth_failure(params, '%s is not a usable service account key' % source, exc)


def identity_of(credentials):
    """The account the credentials act as, when they name one (service accounts do; user tokens do not)."""
    return getattr(credentials, 'service_account_email', None) or None
