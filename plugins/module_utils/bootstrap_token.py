# -*- coding: utf-8 -*-
# Copyright (c) meshbridge.istio_vm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The VM's bootstrap token (istio-token): what an existing one says about itself, and whether to reissue it.

The claims are read without verifying the signature: the token is ours, on the controller, and only its expiry
and subject decide whether to ask for a new one. istiod verifies it when the VM presents it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import datetime
import json

AUDIENCE = 'istio-ca'


def subject(namespace, service_account):
    return 'system:serviceaccount:%s:%s' % (namespace, service_account)


def claims(token):
    """The JWT payload of ``token`` as a dict, or None when it is not a readable JWT."""
    parts = (token or '').strip().split('.')
    if len(parts) != 3:
        return None
    payload = parts[1] + '=' * (-len(parts[1]) % 4)
    try:
        decoded = json.loads(base64.urlsafe_b64decode(payload.encode('ascii')).decode('utf-8'))
    except (ValueError, binascii.Error, UnicodeError):
        return None
    return decoded if isinstance(decoded, dict) else None


def expiry(token_claims):
    """The ``exp`` claim as an aware UTC datetime, or None."""
    exp = (token_claims or {}).get('exp')
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        return None
    return datetime.datetime.fromtimestamp(exp, tz=datetime.timezone.utc)


def reissue_reason(token, namespace, service_account, renew_before, now):
    """Why the token must be reissued (a short phrase for the module's output), or None when it can stay."""
    if token is None:
        return 'no token yet'
    token_claims = claims(token)
    expires = expiry(token_claims)
    if expires is None:
        return 'the existing token is not a JWT with an exp claim'
    if token_claims.get('sub') != subject(namespace, service_account):
        return 'the existing token is for %s' % token_claims.get('sub')
    audiences = token_claims.get('aud')
    if AUDIENCE not in (audiences if isinstance(audiences, list) else [audiences]):
        return 'the existing token is not for audience %s' % AUDIENCE
    if expires <= now:
        return 'the existing token expired at %s' % expires.isoformat()
    if (expires - now).total_seconds() < renew_before:
        return 'the existing token expires at %s, within the renew window' % expires.isoformat()
    return None


def review_reason(review, namespace, service_account):
    """Why a token the cluster reviewed (``review``: a TokenReview status) must be reissued, or None: a token of
    another cluster (one deleted and made again under the same name) or of a service account made again is refused
    by this one's istiod, however far its expiry."""
    if not review.get('authenticated'):
        return 'the cluster does not accept the existing token (%s)' % (review.get('error') or 'not authenticated')
    username = (review.get('user') or {}).get('username')
    if username != subject(namespace, service_account):
        return 'the cluster takes the existing token for %s' % username
    # An API server that does not say which of the audiences asked for it granted (status.audiences) granted them all.
    if review.get('audiences') is not None and AUDIENCE not in review['audiences']:
        return 'the cluster does not accept the existing token for audience %s' % AUDIENCE
    return None
