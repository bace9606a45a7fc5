# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: gcp_cidr
short_description: Whether a string is a CIDR range the GCP APIs accept
version_added: 0.1.0
author: meshbridge maintainers (@meshbridge)
description:
  - True for an IPv4 or IPv6 network in CIDR notation without host bits set (V(10.4.0.0/14), not V(10.4.0.1/14)),
    the rule the GCP modules of this collection check before calling the API.
options:
  _input:
    description: The range to check.
    type: string
    required: true
'''

EXAMPLES = r'''
- name: Check the pod range before creating anything
  ansible.builtin.assert:
    that: gke_cluster_cluster_ipv4_cidr is meshbridge.istio_vm.gcp_cidr
'''

RETURN = r'''
_value:
  description: Whether the input is a valid CIDR range.
  type: boolean
'''

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import GcpInputError
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.validation import check_cidr


def gcp_cidr(value):
    if not isinstance(value, str):
        return False
    try:
        check_cidr('range', value)
    except GcpInputError:
        return False
    return True


class TestModule(object):

    def tests(self):
        return {'gcp_cidr': gcp_cidr}
