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
    from google.auth.transport import requests as google_auth_requests
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
# Google names the account behind an access token (tokeninfo's ``email``) only when the token has this scope, and
# GKE needs it to authenticate a token as the account's email; gke-gcloud-auth-plugin asks for both
# (cmd/gke-gcloud-auth-plugin in kubernetes/cloud-provider-gcp: "userinfo.email is used to authenticate to GKE APIs
# with gserviceaccount email instead of numeric uniqueID"), and `gcloud auth application-default login` grants both.
USERINFO_EMAIL_SCOPE = 'https://www.googleapis.com/auth/userinfo.email'
IDENTITY_SCOPES = (CLOUD_PLATFORM_SCOPE, USERINFO_EMAIL_SCOPE)
# What Google knows about an access token (https://cloud.google.com/docs/authentication/token-types#access-contents).
TOKENINFO_URI = 'https://oauth2.googleapis.com/tokeninfo'

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


def credentials_from_params(params, default_scopes=(CLOUD_PLATFORM_SCOPE,)):
    """google-auth credentials for ``params`` (the module's parameters), with ``default_scopes`` unless ``scopes``
    names others. Loading makes no request; raises GcpInputError for contradicting parameters and GcpAuthError for
    credentials that are missing or unreadable."""
    kind = params['auth_kind']
    scopes = params.get('scopes') or list(default_scopes)
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


def application_default_file(environ=None):
    """The file Application Default Credentials come from, as google-auth looks for it: GOOGLE_APPLICATION_CREDENTIALS,
    else the file `gcloud auth application-default login` writes in gcloud's configuration directory
    (``$CLOUDSDK_CONFIG`` or ``~/.config/gcloud``;
    https://cloud.google.com/docs/authentication/application-default-credentials).
    None when neither is there (the credentials then come from the metadata server, if any)."""
    environ = os.environ if environ is None else environ
    explicit = environ.get('GOOGLE_APPLICATION_CREDENTIALS')
    if explicit:
        return os.path.realpath(os.path.expanduser(explicit))
    if os.name == 'nt':  # pragma: no cover - gcloud's directory on Windows
        directory = environ.get('CLOUDSDK_CONFIG') or os.path.join(environ.get('APPDATA', ''), 'gcloud')
    else:
        directory = environ.get('CLOUDSDK_CONFIG') or os.path.expanduser('~/.config/gcloud')
    path = os.path.join(directory, 'application_default_credentials.json')
    return os.path.realpath(path) if os.path.isfile(path) else None


def credentials_file(params, environ=None):
    """The file the credentials of ``params`` are read from, for other programs to use the same ones (the kubeconfig's
    gke-gcloud-auth-plugin): the key file of auth_kind=serviceaccount, the ADC file of auth_kind=application; None
    for service_account_contents, an access token, or ADC from the metadata server."""
    if params['auth_kind'] == 'serviceaccount' and params.get('service_account_file'):
        return os.path.realpath(os.path.expanduser(params['service_account_file']))
    if params['auth_kind'] == 'application':
        return application_default_file(environ)
    return None


def _refresh(credentials, params):
    """Make sure ``credentials`` hold a live access token (one token request when they do not)."""
    if credentials.valid:
        return
    try:
        credentials.refresh(google_auth_requests.Request())
    except google_auth_exceptions.TransportError as exc:
        raise GcpAuthError('could not reach the token endpoint: %s. Check the controller\'s DNS and proxy settings'
                           % describe_cause(exc))
    except GOOGLE_AUTH_ERRORS as exc:
        raise auth_failure(params, 'the credentials were refused when getting an access token', exc)


def find_identity(credentials, params, tokeninfo):
    """``(email, how)``: the account ``credentials`` act as and how it was found, or ``(None, why not)``.

    A service account key names its account; other credentials (a user's, from `gcloud auth application-default
    login`, an access token, the metadata server's) are asked for a live access token, which Google's tokeninfo
    endpoint describes: ``tokeninfo(token)`` returns its JSON answer (``email`` only when the token has the
    userinfo.email scope). Raises GcpAuthError when the credentials are refused."""
    email = identity_of(credentials)
    if email and email != 'default':
        return email, 'the service account key'
    _refresh(credentials, params)
    email = identity_of(credentials)
    if email and email != 'default':  # the metadata server's account, known once a token is fetched
        return email, 'the metadata server'
    info = tokeninfo(credentials.token)
    if info.get('email'):
        return info['email'], "Google's tokeninfo for the credentials' access token"
    return None, ("Google's tokeninfo names no account for the credentials' access token: it has scopes %s, and "
                  'only a token with the %s scope is named' % (info.get('scope') or '(none)', USERINFO_EMAIL_SCOPE))
