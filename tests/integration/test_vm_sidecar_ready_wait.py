"""vm_sidecar's wait for the agent's readiness endpoint, as a user watching ansible-playbook sees it: the role's own
block, run by real ansible-playbook on localhost with the default output, asking a loopback HTTP server that says
503 a chosen number of times before 200 (or never 200). No VM and no lab: the loop's plumbing is under test (a line
per look with what the endpoint said, the stop at the first 200, the bound, the failure naming the last answer)."""

import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WAIT_BLOCK = 'Wait until the sidecar is ready'


class Readiness(BaseHTTPRequestHandler):
    """503 for the first ``server.not_ready`` requests (None: always), then 200; counts the requests."""

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.server.looks += 1
        ready = self.server.not_ready is not None and self.server.looks > self.server.not_ready
        body = b'' if ready else b'Envoy proxy is NOT ready: config not received from XDS server (is Istiod running?)'
        self.send_response(200 if ready else 503)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(name='endpoint')
def fixture_endpoint():
    server = ThreadingHTTPServer(('127.0.0.1', 0), Readiness)
    server.looks, server.not_ready = 0, 0
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run_wait(tmp_path, endpoint, timeout):
    with open(os.path.join(REPO, 'roles', 'vm_sidecar', 'tasks', 'service.yml'), encoding='utf-8') as handle:
        block = next(task for task in yaml.safe_load(handle) if task.get('name') == WAIT_BLOCK)
    play = [{'hosts': 'localhost', 'gather_facts': False, 'vars': {
        'vm_sidecar_ready_url': 'http://127.0.0.1:%d/healthz/ready' % endpoint.server_port,
        'vm_sidecar_ready_timeout': timeout, 'inventory_hostname_short': 'vm'}, 'tasks': [block]}]
    (tmp_path / 'play.yml').write_text(yaml.safe_dump(play))
    (tmp_path / 'inventory.ini').write_text('localhost ansible_connection=local\n')
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK='ansible.builtin.default', ANSIBLE_NOCOLOR='1',
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING='false')
    completed = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i',
                                str(tmp_path / 'inventory.ini'), str(tmp_path / 'play.yml')],
                               capture_output=True, text=True, env=env, cwd=str(tmp_path), check=False)
    return completed.stdout + completed.stderr, completed.returncode


def looks(output):
    return re.findall(r"^ok: \[localhost\] => \(item=(.*), (\d+) s\)$", output, re.MULTILINE)


def test_each_look_prints_what_the_endpoint_said_and_the_wait_stops_at_ready(tmp_path, endpoint):
    endpoint.not_ready = 3
    output, code = run_wait(tmp_path, endpoint, timeout=60)
    assert code == 0, output
    shown = looks(output)
    assert [said for said, dummy in shown] == ['not ready (HTTP 503)'] * 3 + ['ready']
    seconds = [int(waited) for dummy, waited in shown]
    assert seconds == sorted(seconds)
    assert endpoint.looks == 4


def test_a_sidecar_never_ready_fails_after_the_timeout_naming_its_last_answer(tmp_path, endpoint):
    endpoint.not_ready = None
    output, code = run_wait(tmp_path, endpoint, timeout=4)
    assert code != 0
    assert [said for said, dummy in looks(output)] == ['not ready (HTTP 503)'] * 2 and endpoint.looks == 2
    assert 'is not ready after 4 s' in output
    assert 'last said "Status code was 503 and not [200]' in output
    assert 'config not received from XDS server' in output


def test_no_answer_at_all_is_shown_as_such(tmp_path, endpoint):
    port = endpoint.server_port
    endpoint.shutdown()
    endpoint.server_close()
    endpoint.server_port = port  # nothing listens there now
    output, code = run_wait(tmp_path, endpoint, timeout=2)
    assert code != 0
    (said, dummy), = looks(output)
    assert said.startswith('not ready (Status code was -1') and 'Connection refused' in output
