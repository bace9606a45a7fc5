# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    # The connection options of the GCP modules, named and read from the environment as in google.cloud.
    DOCUMENTATION = r'''
options:
  project:
    description:
      - The Google Cloud project ID.
      - If not set, the value of E(GCP_PROJECT) is used.
    type: str
    required: true
  auth_kind:
    description:
      - How to authenticate. V(application) uses Application Default Credentials, V(serviceaccount) a service
        account key, V(accesstoken) a ready OAuth2 access token.
      - If not set, the value of E(GCP_AUTH_KIND) is used.
    type: str
    required: true
    choices: [application, serviceaccount, accesstoken]
  service_account_file:
    description:
      - Path to a service account key file (JSON), with O(auth_kind=serviceaccount).
      - If not set, the value of E(GCP_SERVICE_ACCOUNT_FILE) is used.
    type: path
  service_account_contents:
    description:
      - The contents of a service account key file (JSON), with O(auth_kind=serviceaccount).
      - If not set, the value of E(GCP_SERVICE_ACCOUNT_CONTENTS) is used.
    type: jsonarg
  access_token:
    description:
      - An OAuth2 access token, with O(auth_kind=accesstoken).
      - If not set, the value of E(GCP_ACCESS_TOKEN) is used.
    type: str
  scopes:
    description:
      - OAuth2 scopes of the credentials. Defaults to C(https://www.googleapis.com/auth/cloud-platform).
      - If not set, the value of E(GCP_SCOPES) is used.
    type: list
    elements: str
  api_retries:
    description:
      - How many times a request is retried after HTTP 429 or 5xx, a 403 whose reason is C(rateLimitExceeded) or
        C(userRateLimitExceeded) (how Compute Engine answers a request over its rate quota), or a connection error,
        with exponential backoff and full jitter (0.5 s doubling, at most 30 s between tries; a C(Retry-After)
        header is honoured). A 403 for any other reason (permission, C(quotaExceeded)) is not retried.
    type: int
    default: 6
requirements:
  - google-auth >= 2.20
  - requests >= 2.31
notes:
  - The module talks to the public API endpoints (C(*.googleapis.com)); it honours the standard proxy and CA
    environment variables (E(HTTPS_PROXY), E(REQUESTS_CA_BUNDLE)) through C(requests).
  - Every API call made and retried, and every operation waited for (with the polls and seconds it took), is in
    the result as RV(ignore:operations) and RV(ignore:api_retries).
'''

    # For the modules that wait for long-running operations (not the read-only credentials module).
    OPERATIONS = r'''
options:
  operation_timeout:
    description:
      - Seconds to wait for each long-running operation (and for the resource to reach a steady state) before
        failing with a message that names the operation and its status.
    type: int
'''
