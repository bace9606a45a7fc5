"""Measure the collection's own client layers against the libraries that could carry them (docs/kubernetes-client.md).

  kube: one module's worth of Kubernetes work, `connect` then GET one ConfigMap, through module_utils/kube.py
        (kubernetes' DynamicClient, eager discovery) and through kubernetes.core's get_api_client (its
        LazyDiscoverer, cold and with its discovery cache warm), against a loopback stand-in that serves as many
        API groups as a GKE cluster with Istio (GROUPS). Each run is a fresh Python process, as a module is.
  grpc: one unary gRPC call with an empty request and a 10 kB reply, cleartext (the TLS handshake in front of it is
        the same ssl code either way), through grpc_call.call_once's own HTTP/2 and HPACK framing (grpc_wire) and
        through h2 driving the same kind of socket, against a loopback grpcio server; a fresh process per call.

Prints medians of RUNS runs: wall and CPU (user + system) seconds of the process, peak RSS in MiB, and for kube
the HTTP requests the API stand-in answered; for grpc also the seconds of the call alone. CPU time is the figure
to compare on a busy machine. Run with the venv's Python from the checkout:
  .venv/bin/python hack/measure_clients.py kube|grpc [RUNS]
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GROUPS = 40  # API groups (with versions) a GKE cluster with Istio serves: ~30 of Kubernetes and GKE, ~10 of Istio
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([TOP, os.path.join(TOP, '.build', 'collections')]))

# --- kube ------------------------------------------------------------------------------------------------------------

CONFIGMAPS = {'name': 'configmaps', 'singularName': 'configmap', 'namespaced': True, 'kind': 'ConfigMap',
              'verbs': ['get', 'list', 'patch', 'delete']}


def group_list():
    groups = []
    for index in range(GROUPS):
        version = {'groupVersion': 'group%d.example.io/v1' % index, 'version': 'v1'}
        groups.append({'name': 'group%d.example.io' % index, 'versions': [version], 'preferredVersion': version})
    return {'kind': 'APIGroupList', 'apiVersion': 'v1', 'groups': groups}


class StandIn(BaseHTTPRequestHandler):
    """Discovery of core/v1 and GROUPS groups of one resource each; every ConfigMap is there."""

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        self.server.requests += 1
        path = self.path.split('?')[0]
        if path == '/version':
            body = {'major': '1', 'minor': '33', 'gitVersion': 'v1.33.0'}
        elif path == '/api':
            body = {'kind': 'APIVersions', 'versions': ['v1']}
        elif path == '/apis':
            body = group_list()
        elif path == '/api/v1':
            body = {'kind': 'APIResourceList', 'groupVersion': 'v1', 'resources': [CONFIGMAPS]}
        elif path.startswith('/apis/'):
            group_version = path[len('/apis/'):]
            body = {'kind': 'APIResourceList', 'groupVersion': group_version, 'resources': [
                {'name': 'things', 'singularName': 'thing', 'namespaced': True, 'kind': 'Thing', 'verbs': ['get']}]}
        else:
            body = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': path.rsplit('/', 1)[-1]},
                    'data': {'a': 'b'}}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)


KUBE_OWN = '''
import resource, sys
from ansible_collections.meshbridge.istio_vm.plugins.module_utils import kube
client = kube.connect({'kubeconfig': sys.argv[1], 'context': None, 'host': None, 'api_key': None,
                       'validate_certs': None, 'ca_cert': None}, discovery_cache_dir=sys.argv[2])
assert client.get('v1', 'ConfigMap', 'x', 'default')['data'] == {'a': 'b'}
usage = resource.getrusage(resource.RUSAGE_SELF)
print(usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
'''

KUBE_CORE = '''
import os, resource, sys
os.environ['TMPDIR'] = sys.argv[2]  # where LazyDiscoverer keeps its cache
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
client = get_api_client(kubeconfig=sys.argv[1])
found = client.get(client.resource('ConfigMap', 'v1'), name='x', namespace='default')
assert found.data.a == 'b'
usage = resource.getrusage(resource.RUSAGE_SELF)
print(usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
'''

BASELINE = '''
import resource
from ansible.module_utils.basic import AnsibleModule
usage = resource.getrusage(resource.RUSAGE_SELF)
print(usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
'''


def timed(code, *args):
    """(wall seconds, CPU seconds, peak RSS MiB) of a fresh Python process running ``code``."""
    import time
    start = time.perf_counter()
    out = subprocess.run([sys.executable, '-c', code] + list(args), env=ENV, check=True, capture_output=True,
                         text=True).stdout
    cpu, rss = out.split()[-2:]
    return time.perf_counter() - start, float(cpu), int(rss) / 1024.0


def measure_kube(runs):
    server = ThreadingHTTPServer(('127.0.0.1', 0), StandIn)
    server.requests = 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    work = tempfile.mkdtemp()
    kubeconfig = os.path.join(work, 'kubeconfig')
    with open(kubeconfig, 'w', encoding='utf-8') as handle:
        json.dump({'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'c',
                   'clusters': [{'name': 'c', 'cluster': {'server': 'http://127.0.0.1:%d' % server.server_port}}],
                   'users': [{'name': 'u', 'user': {'token': 't'}}],
                   'contexts': [{'name': 'c', 'context': {'cluster': 'c', 'user': 'u'}}]}, handle)
    results = {}
    variants = [('baseline (python + AnsibleModule import)', BASELINE, None),
                ('module_utils/kube.py, cache in module.tmpdir (cold)', KUBE_OWN, 'cold'),
                ('kubernetes.core get_api_client, cold cache', KUBE_CORE, 'cold'),
                ('kubernetes.core get_api_client, warm cache', KUBE_CORE, 'warm')]
    warm = tempfile.mkdtemp()
    for dummy in range(runs):
        for name, code, cache in variants:
            cache_dir = tempfile.mkdtemp() if cache == 'cold' else warm
            before = server.requests
            wall, cpu, rss = timed(code, kubeconfig, cache_dir)
            results.setdefault(name, []).append((wall, cpu, rss, server.requests - before))
    server.shutdown()
    for name, dummy, dummy in variants:
        rows = results[name]
        # The warm cache's first run fills it: leave it out.
        rows = rows[1:] if 'warm' in name else rows
        print('%-52s wall %.2f s  CPU %.2f s  peak RSS %.1f MiB  requests %d' % tuple(
            [name] + [statistics.median(row[column] for row in rows) for column in range(4)]))


# --- grpc ------------------------------------------------------------------------------------------------------------

REPLY = b'\x0a\x03abc' * 2000  # a 10 kB reply: a product list's size

GRPC_OWN = """
import resource, socket, sys, time
start = time.perf_counter()
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.grpc_call import call_once
imported = time.perf_counter()
result = call_once('127.0.0.1', int(sys.argv[1]), '/bench.Service/Get', timeout=5)
done = time.perf_counter()
assert result['reply_size'] == int(sys.argv[2])
usage = resource.getrusage(resource.RUSAGE_SELF)
print(imported - start, done - imported, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
"""

# The same call driven by h2 on a plain socket: what grpc_call.call_once would do on h2 (its TLS part unchanged).
GRPC_H2 = """
import resource, socket, struct, sys, time
start = time.perf_counter()
import h2.config, h2.connection, h2.events
imported = time.perf_counter()
sock = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)
connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding='utf-8'))
connection.initiate_connection()
connection.increment_flow_control_window(2 ** 31 - 1 - 65535)
stream = connection.get_next_available_stream_id()
connection.send_headers(stream, [(':method', 'POST'), (':scheme', 'http'), (':path', '/bench.Service/Get'),
                                 (':authority', '127.0.0.1:%s' % sys.argv[1]), ('content-type', 'application/grpc'),
                                 ('te', 'trailers')])
connection.send_data(stream, b'\\x00' + struct.pack('>I', 0), end_stream=True)
sock.sendall(connection.data_to_send())
data, status, ended = b'', None, False
while not ended:
    chunk = sock.recv(65536)
    if not chunk:
        break
    for event in connection.receive_data(chunk):
        if isinstance(event, h2.events.DataReceived):
            data += event.data
            connection.acknowledge_received_data(event.flow_controlled_length, stream)
        elif isinstance(event, h2.events.TrailersReceived):
            status = dict(event.headers).get('grpc-status')
        elif isinstance(event, h2.events.StreamEnded):
            ended = True
    sock.sendall(connection.data_to_send())
sock.close()
done = time.perf_counter()
assert status == '0' and len(data) - 5 == int(sys.argv[2]), (status, len(data))
usage = resource.getrusage(resource.RUSAGE_SELF)
print(imported - start, done - imported, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
"""


def measure_grpc(runs):
    import grpc
    from concurrent import futures

    def answer(request, context):
        return REPLY

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler('bench.Service', {
        'Get': grpc.unary_unary_rpc_method_handler(answer, request_deserializer=None, response_serializer=None)})])
    port = server.add_insecure_port('127.0.0.1:0')
    server.start()
    results = {}
    variants = [('grpc_call (own HTTP/2 and HPACK framing)', GRPC_OWN), ('h2 4.4 on the same socket', GRPC_H2)]
    for dummy in range(runs):
        for name, code in variants:
            out = subprocess.run([sys.executable, '-c', code, str(port), str(len(REPLY))], env=ENV, check=True,
                                 capture_output=True, text=True).stdout.split()
            results.setdefault(name, []).append([float(value) for value in out[-4:]])
    server.stop(0)
    for name, dummy in variants:
        rows = results[name]
        print('%-42s import %.1f ms  call %.2f ms  process CPU %.2f s  peak RSS %.1f MiB' % tuple(
            [name] + [statistics.median(row[column] for row in rows) * scale
                      for column, scale in ((0, 1000), (1, 1000), (2, 1), (3, 1 / 1024.0))]))


def main():
    what = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 9
    if what == 'kube':
        measure_kube(runs)
    elif what == 'grpc':
        measure_grpc(runs)
    else:
        raise SystemExit('usage: measure_clients.py kube|grpc [RUNS]')


if __name__ == '__main__':
    main()
