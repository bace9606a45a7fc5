# -*- coding: utf-8 -*-
# Copyright (c) meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SPIFFE identities of Istio workloads and the Kubernetes name rules their parts must follow."""

from __future__ import annotations

import re

# Kubernetes' DNS-1123 label and subdomain rules (k8s.io/apimachinery/pkg/util/validation).
_DNS1123_LABEL = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')
_DNS1123_LABEL_MAX = 63
_DNS1123_SUBDOMAIN_MAX = 253


def dns1123_label_problem(value):
    """Why ``value`` is not a DNS-1123 label (a namespace name), or None when it is one."""
    if not value:
        return 'must not be empty'
    if len(value) > _DNS1123_LABEL_MAX:
        return 'must be at most %d characters' % _DNS1123_LABEL_MAX
    if not _DNS1123_LABEL.match(value):
        return ("must consist of lower case alphanumeric characters or '-', "
                "and start and end with an alphanumeric character")
    return None


def dns1123_subdomain_problem(value):
    """Why ``value`` is not a DNS-1123 subdomain (a service account name, a trust domain), or None."""
    if not value:
        return 'must not be empty'
    if len(value) > _DNS1123_SUBDOMAIN_MAX:
        return 'must be at most %d characters' % _DNS1123_SUBDOMAIN_MAX
    for label in value.split('.'):
        if not label or not _DNS1123_LABEL.match(label):
            return ("must consist of lower case alphanumeric characters, '-' or '.', "
                    "and each dot-separated part must start and end with an alphanumeric character")
    return None


def spiffe_id(trust_domain, namespace, service_account):
    """The identity Istio gives a workload: ``spiffe://<trust domain>/ns/<namespace>/sa/<service account>``."""
    return 'spiffe://%s/ns/%s/sa/%s' % (trust_domain, namespace, service_account)
