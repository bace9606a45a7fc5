"""Fixtures shared by all tests: run real ansible-playbook against this checkout's collection."""

import json
import os
import subprocess
import sys
import tempfile
import textwrap

import pytest

from lab.kubernetes import egress, processes, testing

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class PlaybookResult:
    """The outcome of one ansible-playbook run, read from the json_items callback (tests/callback_plugins)."""

    def __init__(self, completed):
        self.returncode = completed.returncode
        self.stderr = completed.stderr
        try:
            self.report = json.loads(completed.stdout)
        except ValueError:
            raise AssertionError('ansible-playbook printed no JSON report:\n%s\n%s'
                                 % (completed.stdout, completed.stderr)) from None

    @property
    def stats(self):
        return self.report['stats']

    def changed(self, host='localhost'):
        return self.stats[host]['changed']

    def failed(self, host='localhost'):
        return self.stats[host]['failures'] + self.stats[host]['unreachable']

    def task(self, name, host='localhost'):
        """The result of the task called ``name`` on ``host`` (the last one, if several share the name)."""
        found = None
        for play in self.report['plays']:
            for task in play['tasks']:
                if task['task']['name'] == name and host in task['hosts']:
                    found = task['hosts'][host]
        if found is None:
            raise AssertionError('no task named %r ran on %s' % (name, host))
        return found


@pytest.fixture
def ssh_control_dir():
    """A short directory for SSH's ControlMaster sockets: a Unix socket path has at most 107 bytes, which a
    socket under pytest's tmp_path (deeper still under pytest-xdist) can exceed."""
    with tempfile.TemporaryDirectory(prefix='mbcp') as path:
        yield path


@pytest.fixture
def run_playbook(tmp_path, ssh_control_dir):
    """Run a playbook given as YAML text; returns a PlaybookResult. Fails the test when ansible-playbook fails,
    unless ``expect_failure=True``."""

    def run(playbook, extra_vars=None, check=False, diff=False, expect_failure=False, inventory=None, env=None):
        path = tmp_path / 'playbook.yml'
        path.write_text(textwrap.dedent(playbook))
        if inventory is None:
            inventory = str(tmp_path / 'inventory.ini')
            with open(inventory, 'w', encoding='utf-8') as handle:
                handle.write('localhost ansible_connection=local\n')
        command = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inventory, str(path)]
        if extra_vars:
            command += ['-e', json.dumps(extra_vars)]
        if check:
            command.append('--check')
        if diff:
            command.append('--diff')
        run_env = dict(os.environ)
        run_env.update({
            'ANSIBLE_STDOUT_CALLBACK': 'json_items',
            'ANSIBLE_CALLBACK_PLUGINS': os.path.join(REPO, 'tests', 'callback_plugins'),
            'ANSIBLE_COLLECTIONS_PATH': os.path.join(REPO, '.build', 'collections'),
            'ANSIBLE_LOCALHOST_WARNING': 'false',
            'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'false',
            'ANSIBLE_PYTHON_INTERPRETER': sys.executable,
            'ANSIBLE_NOCOLOR': '1',
            'ANSIBLE_SSH_CONTROL_PATH_DIR': ssh_control_dir,
        })
        run_env.update(env or {})
        completed = subprocess.run(command, capture_output=True, text=True, env=run_env, cwd=str(tmp_path),
                                   check=False)
        result = PlaybookResult(completed)
        if not expect_failure:
            assert result.returncode == 0, json.dumps(result.report, indent=1)[-6000:] + result.stderr
        return result

    return run


def pytest_configure(config):
    """Name this session for the control planes its tests start (xdist's workers inherit the variable)."""
    if not hasattr(config, 'workerinput'):
        os.environ.setdefault(testing.SESSION_VARIABLE, str(os.getpid()))


def pytest_sessionfinish(session):
    """Stop the control-plane programs of any test of this session that died before its own cleanup (xdist's
    controller only, after every worker is done)."""
    if not hasattr(session.config, 'workerinput'):
        processes.stop_marked(testing.session_prefix())
        egress.remove_sockets(testing.session_prefix())
