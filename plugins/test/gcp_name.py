# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: gcp_name
short_description: Whether a string is a valid Compute Engine / GKE resource name or network tag
version_added: 0.1.0
author: meshbridge maintainers (@meshbridge)
description:
  - True for 1-63 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen
    (RFC 1035), the rule the GCP modules of this collection check before calling the API.
  - Lets a role reject bad input before anything starts, such as VM creations that run in the background.
options:
  _input:
    description: The name to check.
    type: string
    required: true
'''

EXAMPLES = r'''
- name: Check the VM names before creating anything
  ansible.builtin.assert:
    that: item.name is meshbridge.istio_vm.gcp_name
  loop: "{{ gce_vm_instances }}"
'''

RETURN = r'''
_value:
  description: Whether the input is a valid name.
  type: boolean
'''

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import GcpInputError
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.validation import check_name


def gcp_name(value):
    if not isinstance(value, str):
        return False
    try:
        check_name('name', value)
    except GcpInputError:
        return False
    return True


class TestModule(object):

    def tests(self):
        return {'gcp_name': gcp_name}
