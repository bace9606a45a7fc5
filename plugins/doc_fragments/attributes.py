# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    # What check_mode, diff_mode and idempotent mean; each module states its own support and details, which
    # ansible-doc merges over these descriptions.
    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
'''

    # The module_defaults groups of meta/runtime.yml, one variable a group.
    ACTION_GROUP_GCP = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/meshbridge.istio_vm.gcp) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - meshbridge.istio_vm.gcp
'''

    ACTION_GROUP_ISTIO_VM = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/meshbridge.istio_vm.istio_vm) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - meshbridge.istio_vm.istio_vm
'''
