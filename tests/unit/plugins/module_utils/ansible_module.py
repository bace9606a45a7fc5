"""A real AnsibleModule for code under test that writes files through its atomic_move."""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args


def real_module():
    with patch_module_args({}):
        return AnsibleModule(argument_spec={})
