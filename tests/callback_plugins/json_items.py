"""The tests' stdout callback: ansible.posix.json, with each loop item's outcome in its result.

ansible-core 2.21 hands callbacks results without the ``failed`` and ``skipped`` keys (2.19 kept them in each loop
item), so ansible.posix.json's report no longer says which item of a loop failed. The item callbacks still do: their
outcomes are written back into the task result's ``results``, in loop order, as ``failed`` and ``skipped``, on every
ansible-core the tests run on.
"""

DOCUMENTATION = '''
name: json_items
short_description: ansible.posix.json with each loop item's failed and skipped flags
description:
  - The tests' stdout callback; see the module docstring.
type: stdout
options:
  show_custom_stats:
    description: Add set_stats' custom stats to the report (read by ansible.posix.json).
    type: bool
    default: false
    env:
      - name: ANSIBLE_SHOW_CUSTOM_STATS
  json_indent:
    description: Spaces of indentation in the report, 0 for one line (read by ansible.posix.json).
    type: integer
    default: 4
    env:
      - name: ANSIBLE_JSON_INDENT
'''

from ansible_collections.ansible.posix.plugins.callback.json import CallbackModule as JsonCallback


class CallbackModule(JsonCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'json_items'

    def __init__(self, display=None):
        super().__init__(display)
        self._item_outcomes = {}

    def _record_item(self, result, outcome):
        key = (result._host.get_name(), result._task._uuid)  # pylint: disable=protected-access
        self._item_outcomes.setdefault(key, []).append(outcome)

    def v2_runner_item_on_ok(self, result):
        self._record_item(result, 'ok')

    def v2_runner_item_on_failed(self, result):
        self._record_item(result, 'failed')

    def v2_runner_item_on_skipped(self, result):
        self._record_item(result, 'skipped')

    def _record_task_result(self, on_info, result, **kwargs):
        super()._record_task_result(on_info, result, **kwargs)
        host, task = result._host, result._task  # pylint: disable=protected-access
        outcomes = self._item_outcomes.pop((host.get_name(), task._uuid), None)  # pylint: disable=protected-access
        items = self._find_result_task(host, task)['hosts'][host.name].get('results')
        if outcomes and isinstance(items, list) and len(items) == len(outcomes):
            for item, outcome in zip(items, outcomes):
                if isinstance(item, dict):
                    item['failed'] = outcome == 'failed'
                    if outcome == 'skipped':
                        item['skipped'] = True
