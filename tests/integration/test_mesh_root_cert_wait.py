"""playbooks/mesh.yml's wait for istiod's root certificate, as a user watching ansible-playbook sees it: the play's
own task (kubernetes.core.k8s_info in a loop), run by real ansible-playbook with the default output against a
loopback stand-in for the Kubernetes API whose ConfigMap istio-ca-root-cert appears at a chosen read. No cluster and
no lab: the loop's plumbing is under test (a line per look, the stop at the first look that finds it, nothing in
check mode, no failure of its own when it never comes: mesh_add_vm then fails with its message)."""

import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG_MAP = '/api/v1/namespaces/default/configmaps/istio-ca-root-cert'


class StandIn(BaseHTTPRequestHandler):
    """Discovery of core/v1 ConfigMaps; the root certificate's ConfigMap from read ``server.appears_at`` on."""

    def log_message(self, *args):
        pass

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 (http.server's naming)
        path = self.path.split('?')[0]
        discovery = {
            '/version': {'major': '1', 'minor': '33', 'gitVersion': 'v1.33.0'},
            '/api': {'kind': 'APIVersions', 'versions': ['v1']},
            '/apis': {'kind': 'APIGroupList', 'apiVersion': 'v1', 'groups': []},
            '/api/v1': {'kind': 'APIResourceList', 'groupVersion': 'v1', 'resources': [
                {'name': 'configmaps', 'singularName': 'configmap', 'namespaced': True, 'kind': 'ConfigMap',
                 'verbs': ['get', 'list']}]},
        }
        if path in discovery:
            self._send(200, discovery[path])
            return
        if path == CONFIG_MAP:
            self.server.reads += 1
            if self.server.appears_at is not None and self.server.reads >= self.server.appears_at:
                self._send(200, {'apiVersion': 'v1', 'kind': 'ConfigMap', 'data': {'root-cert.pem': 'PEM'},
                                 'metadata': {'name': 'istio-ca-root-cert', 'namespace': 'default'}})
                return
        self._send(404, {'kind': 'Status', 'apiVersion': 'v1', 'status': 'Failure', 'reason': 'NotFound',
                         'code': 404, 'message': 'configmaps "istio-ca-root-cert" not found'})


@pytest.fixture(name='api')
def fixture_api():
    server = ThreadingHTTPServer(('127.0.0.1', 0), StandIn)
    server.reads, server.appears_at = 0, None
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def wait_task(looks):
    """The play's wait, with ``looks`` looks 0 s apart instead of 12 looks 5 s apart (the plumbing is the same)."""
    with open(os.path.join(REPO, 'playbooks', 'mesh.yml'), encoding='utf-8') as handle:
        tasks = yaml.safe_load(handle)[0]['tasks']
    task = dict(next(task for task in tasks if task['name'].startswith("Wait for istiod's root certificate")))
    task['loop'] = task['loop'].replace('range(12)', 'range(%d)' % looks)
    task['loop_control'] = dict(task['loop_control'], pause=0,
                                label=task['loop_control']['label'].replace(' of 12', ' of %d' % looks))
    return task


def run_wait(tmp_path, api, looks=4, check=False):
    kubeconfig = tmp_path / 'kubeconfig'
    kubeconfig.write_text(json.dumps({
        'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'west',
        'clusters': [{'name': 'c', 'cluster': {'server': 'http://127.0.0.1:%d' % api.server_port}}],
        'users': [{'name': 'u', 'user': {'token': 't'}}],
        'contexts': [{'name': 'west', 'context': {'cluster': 'c', 'user': 'u'}}]}))
    play = [{'hosts': 'localhost', 'gather_facts': False, 'vars': {
        'gke_cluster_kubeconfig': str(kubeconfig), 'gke_cluster_context': 'west',
        'meshbridge_app_namespace': 'default'}, 'tasks': [wait_task(looks)]}]
    (tmp_path / 'play.yml').write_text(yaml.safe_dump(play))
    (tmp_path / 'inventory.ini').write_text('localhost ansible_connection=local\n')
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK='ansible.builtin.default', ANSIBLE_NOCOLOR='1',
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING='false')
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i',
               str(tmp_path / 'inventory.ini'), str(tmp_path / 'play.yml')] + (['--check'] if check else [])
    completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=str(tmp_path), check=False)
    return completed.stdout + completed.stderr, completed.returncode


def looks(output):
    return re.findall(r'^ok: \[localhost\] => \(item=(.*)\)$', output, re.MULTILINE)


def test_each_look_says_whether_the_certificate_is_there_and_the_wait_stops_when_it_is(tmp_path, api):
    api.appears_at = 3
    output, code = run_wait(tmp_path, api)
    assert code == 0, output
    assert looks(output) == ['not published yet, look 1 of 4, 5 s apart', 'not published yet, look 2 of 4, 5 s apart',
                             'published, look 3 of 4, 5 s apart']
    assert api.reads == 3


def test_a_certificate_that_never_comes_is_left_to_mesh_add_vm(tmp_path, api):
    output, code = run_wait(tmp_path, api, looks=2)
    assert code == 0, output
    assert looks(output) == ['not published yet, look 1 of 2, 5 s apart', 'not published yet, look 2 of 2, 5 s apart']


def test_check_mode_waits_for_nothing(tmp_path, api):
    output, code = run_wait(tmp_path, api, check=True)
    assert code == 0, output
    assert looks(output) == [] and api.reads == 0
