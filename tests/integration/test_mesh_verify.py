"""The mesh_verify role through real ansible-playbook: against a real control plane (Istio's CRDs, a Service and
the WorkloadEntry istiod would auto-register, created with kubectl) and the lab's productcatalogservice serving mutual
TLS with a SPIFFE-only certificate from the mesh CA, as a VM's sidecar does. It passes; then each way the mesh can be
broken fails the check that names it, while the others still run and the report is written."""

import json
import os
import socket
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.etree import ElementTree

import pytest

from lab.istio.testing import istio_crds
from lab.kubernetes.testing import running_control_plane
from tests.support.kubectl import Kubectl
from tests.support.mesh_grpc import MeshCA, serving_catalog_mtls

VM_ADDRESS = '127.0.0.1'
ENTRY = 'productcatalogservice-' + VM_ADDRESS
ROLE = 'meshbridge.istio_vm.mesh_verify : '
PLAY = '''
- hosts: localhost
  gather_facts: false
  roles:
    - role: meshbridge.istio_vm.mesh_verify
'''
SERVICE = {
    'apiVersion': 'v1', 'kind': 'Service',
    'metadata': {'name': 'productcatalogservice', 'namespace': 'default'},
    'spec': {'selector': {'app': 'productcatalogservice'},
             'ports': [{'name': 'grpc-3550', 'port': 3550, 'targetPort': 3550}]},
}


def _entry(labels):
    """The WorkloadEntry istiod auto-registers for the VM (group productcatalogservice, no network)."""
    return {
        'apiVersion': 'networking.istio.io/v1', 'kind': 'WorkloadEntry',
        'metadata': {'name': ENTRY, 'namespace': 'default',
                     'annotations': {'istio.io/autoRegistrationGroup': 'productcatalogservice'}},
        'spec': {'address': VM_ADDRESS, 'labels': labels, 'serviceAccount': 'productcatalogservice'},
    }


@pytest.fixture(scope='module')
def mesh(tmp_path_factory):
    return MeshCA(tmp_path_factory.mktemp('mesh'))


@pytest.fixture(scope='module')
def catalog_port(mesh, tmp_path_factory):
    with serving_catalog_mtls(mesh, tmp_path_factory.mktemp('stubs')) as port:
        yield port


@pytest.fixture(scope='module')
def module_cluster(tmp_path_factory):
    """One cluster for the module: Istio's WorkloadEntry and WorkloadGroup CRDs and the Service."""
    with running_control_plane(tmp_path_factory.mktemp('kube')) as kube:
        kubectl = Kubectl(kube.kubeconfig, tmp_path_factory.mktemp('home'))
        for crd in istio_crds():
            if crd['spec']['names']['kind'] in ('WorkloadEntry', 'WorkloadGroup'):
                kubectl.run('apply', '-f', '-', stdin=json.dumps(crd))
                kubectl.wait_established(crd['metadata']['name'])
        kubectl.run('apply', '-f', '-', stdin=json.dumps(SERVICE))
        yield kube, kubectl


@pytest.fixture
def cluster(module_cluster):
    """The module's cluster as a fresh one is: no WorkloadEntry (an earlier test's is deleted), the Service as made."""
    kubectl = module_cluster[1]
    kubectl.run('delete', 'workloadentries.networking.istio.io', '--all', '-n', 'default', '--wait=true')
    assert kubectl.json('get', 'workloadentries.networking.istio.io', '-n', 'default')['items'] == []
    service = kubectl.get('service', 'productcatalogservice', 'default')
    assert (service['spec']['selector'], service['spec']['ports'][0]['port']) == (SERVICE['spec']['selector'], 3550)
    return module_cluster


def _set_health(kubectl, status, message=None):
    condition = {'type': 'Healthy', 'status': status, 'lastProbeTime': '2026-11-24T00:00:00Z',
                 'lastTransitionTime': '2026-11-24T00:00:00Z'}
    if message:
        condition['message'] = message
    kubectl.run('patch', 'workloadentries.networking.istio.io', ENTRY, '-n', 'default', '--subresource=status',
                '--type=merge', '-p', json.dumps({'status': {'conditions': [condition]}}))


@pytest.fixture
def verify(cluster, mesh, catalog_port, run_playbook, tmp_path):
    kube = cluster[0]

    def run(expect_failure=False, check=False, inventory=None, **overrides):
        variables = {
            'mesh_verify_kubeconfig': kube.kubeconfig, 'mesh_verify_context': 'lab',
            # Registered as the tutorial's add-to-mesh did: the group (and service account) named after the service.
            # The entry is a gce_vm_instances one: its keys for other roles are ignored.
            'mesh_verify_vms': [{'name': 'istio-gce', 'workload_group': 'productcatalogservice', 'machine_type': 'e2-medium',
                                 'services': [{'name': 'productcatalogservice', 'port': catalog_port, 'protocol': 'grpc'}]}],
            'mesh_verify_vm_addresses': {'istio-gce': {'internal': VM_ADDRESS, 'external': ''}},
            'mesh_verify_ca_dir': mesh.dir, 'mesh_verify_istiod_address': '10.168.8.1',
            'mesh_verify_report_dir': str(tmp_path / 'report'), 'mesh_verify_timeout': 4,
            'mesh_verify_plaintext_timeout': 2,
            # The checks from inside the mesh are turned off unless a test is about them (no VM host to call from).
            'mesh_verify_from_cluster_check': False, 'mesh_verify_from_vms_check': False,
        }
        variables.update(overrides)
        return run_playbook(PLAY, extra_vars=variables, expect_failure=expect_failure, check=check, inventory=inventory)
    return run


def _report(tmp_path):
    return (tmp_path / 'report' / 'mesh-verify-report.txt').read_text()


def _failure(result):
    return result.task(ROLE + 'Fail when a check failed, or did not run though asked for')['msg']


def test_a_healthy_vm_in_the_mesh_passes_and_is_reported(verify, cluster, tmp_path):
    kubectl = cluster[1]
    kubectl.run('apply', '-f', '-', stdin=json.dumps(_entry({'app': 'productcatalogservice', 'version': 'v1'})))
    _set_health(kubectl, 'True')

    first = verify()
    report = _report(tmp_path)
    assert 'PASSED   WorkloadEntry' in report and 'default/%s address 127.0.0.1, Healthy=True' % ENTRY in report
    assert 'PASSED   Service selects VM' in report
    assert 'PASSED   mTLS call' in report and '9 products' in report
    assert 'server spiffe://cluster.local/ns/default/sa/productcatalogservice' in report
    assert 'PASSED   cleartext refused' in report
    assert 'SKIPPED  storefront' in report and ('not proven that the storefront works through the ingress, calling the '
                                                'services from the cluster (mesh_verify_storefront_check is false: not '
                                                'asked for)') in report
    assert 'SKIPPED  Kiali graph' in report and 'mesh_verify_kiali_check is false: not asked for' in report
    assert 'SKIPPED  pod to VM' in report and 'mesh_verify_from_cluster_check is false: not asked for' in report
    assert 'SKIPPED  VM to cluster' in report and 'mesh_verify_from_vms_check is false: not asked for' in report
    assert report.splitlines()[-1] == ('Result: 4 proven, 0 failed, 4 unproven (not asked for: they did not run and prove '
                                       'nothing); 4 of the 4 checks asked for proven')
    shown = first.task(ROLE + 'Show the report')['msg']
    assert 'Checks' in shown

    svg = ElementTree.parse(str(tmp_path / 'report' / 'mesh-topology.svg')).getroot()
    texts = [element.text for element in svg.iter('{http://www.w3.org/2000/svg}text')]
    assert 'VM istio-gce 127.0.0.1' in texts and 'WorkloadEntry passed' in texts
    assert any(text.startswith('mTLS :') and text.endswith('passed') for text in texts)

    assert verify().changed() == 0
    assert verify(check=True).changed() == 0


def test_a_missing_entry_fails_and_names_it(verify, tmp_path):
    failed = verify(expect_failure=True)
    message = _failure(failed)
    assert 'WorkloadEntry istio-gce: no WorkloadEntry %s' % ENTRY in message
    assert "has the VM's sidecar connected to istiod?" in message
    assert 'Service selects VM istio-gce/productcatalogservice: cannot tell' in message
    # The calls still ran: the server is up, so they pass, and the report says so.
    assert 'PASSED   mTLS call' in _report(tmp_path)


def test_a_vm_is_its_own_workload_group_unless_it_names_one(verify, catalog_port):
    # As site.yml registers a VM (the mesh_registration filter): group and service account named after the VM.
    vms = [{'name': 'istio-gce', 'services': [{'name': 'productcatalogservice', 'port': catalog_port}]}]
    message = _failure(verify(expect_failure=True, mesh_verify_vms=vms))
    assert 'no WorkloadEntry istio-gce-%s' % VM_ADDRESS in message


def test_an_unhealthy_entry_fails_with_its_message(verify, cluster):
    kubectl = cluster[1]
    kubectl.run('apply', '-f', '-', stdin=json.dumps(_entry({'app': 'productcatalogservice'})))
    _set_health(kubectl, 'False', 'Get "http://10.168.0.20:3550/": connection refused')
    message = _failure(verify(expect_failure=True))
    assert 'Healthy=False: Get "http://10.168.0.20:3550/": connection refused' in message
    assert '1 mesh check(s) failed' in message


def test_an_entry_without_health_reports_fails_unless_health_is_not_required(verify, cluster, tmp_path):
    kubectl = cluster[1]
    kubectl.run('apply', '-f', '-', stdin=json.dumps(_entry({'app': 'productcatalogservice'})))
    message = _failure(verify(expect_failure=True))
    assert 'WorkloadEntry istio-gce: default/%s address 127.0.0.1, no health reported after 4 s' % ENTRY in message
    assert '1 mesh check(s) failed' in message
    verify(mesh_verify_require_health=False)
    assert 'health not reported (the WorkloadGroup has no probe)' in _report(tmp_path)


def test_an_entry_that_turns_healthy_while_waited_for_passes(verify, cluster, tmp_path):
    kubectl = cluster[1]
    kubectl.run('apply', '-f', '-', stdin=json.dumps(_entry({'app': 'productcatalogservice'})))
    timer = threading.Timer(1.5, _set_health, (kubectl, 'True'))
    timer.start()
    try:
        verify(mesh_verify_timeout=20, mesh_verify_poll_seconds=1)
    finally:
        timer.join()
    assert 'PASSED   WorkloadEntry            istio-gce' in _report(tmp_path)


def test_a_service_that_does_not_select_the_entry_fails(verify, cluster):
    kubectl = cluster[1]
    kubectl.run('apply', '-f', '-', stdin=json.dumps(_entry({'app': 'productcatalog', 'version': 'v1'})))
    message = _failure(verify(expect_failure=True))
    assert ('Service selects VM istio-gce/productcatalogservice: Service default/productcatalogservice selector '
            '{"app": "productcatalogservice"} does not match the labels of %s' % ENTRY) in message


def test_a_client_certificate_from_another_root_fails_the_mtls_call(verify, cluster, tmp_path):
    kubectl = cluster[1]
    kubectl.run('apply', '-f', '-', stdin=json.dumps(_entry({'app': 'productcatalogservice'})))
    stranger = MeshCA(tmp_path / 'other-mesh')
    message = _failure(verify(expect_failure=True, mesh_verify_ca_dir=stranger.dir))
    assert 'mTLS call istio-gce/productcatalogservice: hipstershop.ProductCatalogService/ListProducts as ' \
           'spiffe://cluster.local/ns/default/sa/frontend' in message
    assert "the server's certificate does not verify against ca_path" in message
    assert 'cleartext refused' not in message


def test_a_port_nothing_listens_on_fails_the_cleartext_check_too(verify, cluster):
    kubectl = cluster[1]
    kubectl.run('apply', '-f', '-', stdin=json.dumps(_entry({'app': 'productcatalogservice'})))
    _set_health(kubectl, 'True')
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        closed = sock.getsockname()[1]
    vms = [{'name': 'istio-gce', 'workload_group': 'productcatalogservice',
            'services': [{'name': 'productcatalogservice', 'port': closed}]}]
    message = _failure(verify(expect_failure=True, mesh_verify_vms=vms))
    assert ('cleartext refused istio-gce/productcatalogservice: nothing took a connection on 127.0.0.1:%d' % closed) in message
    assert 'cannot be told' in message and '2 mesh check(s) failed' in message


@pytest.mark.parametrize('overrides, text', [
    ({'mesh_verify_vm_addresses': {}},
     'mesh_verify_vms[0].address: \\"\\" is not given, and mesh_verify_vm_addresses has no address for istio-gce'),
    ({'mesh_verify_vms': [{'name': 'istio-gce', 'workload_group': 'Catalog_VMs', 'services': [{'name': 'productcatalogservice', 'port': 3550}]}]},
     'mesh_verify_vms[0].workload_group: \\"Catalog_VMs\\"'),
    ({'mesh_verify_vms': [{'name': 'istio-gce', 'services': [{'name': 'productcatalogservice'}]}]},
     'mesh_verify_vms[0].services: [{\\"name\\": \\"productcatalogservice\\"}] has a service without a name or a port'),
    ({'mesh_verify_ca_dir': ''},
     'mesh_verify_ca_dir: \\"\\" is empty while mesh_verify_grpc_check needs the client CA for the mTLS calls'),
    ({'mesh_verify_storefront_url': 'shop.example.com'},
     'mesh_verify_storefront_url: \\"shop.example.com\\" is not an http(s) URL'),
])
def test_bad_settings_are_refused_before_any_check(verify, tmp_path, overrides, text):
    failed = verify(expect_failure=True, **overrides)
    assert text in json.dumps(failed.report)
    assert not os.path.exists(tmp_path / 'report')


class _Shop(BaseHTTPRequestHandler):
    """A test double of the Online Boutique frontend and Kiali's graph API, holding the routes, form fields, session
    cookie and bearer token the real ones require (ref: the frontend's handlers, Kiali's API); everything else is 404."""

    home_page = b'<a href="/product/OLJCESPC7Z">Sunglasses</a>'
    checkout_page = b'<h3>Your order is complete!</h3><p>Confirmation # 1d2e</p>'
    orders = 0
    token = 'kiali-token'
    required_checkout = ('email', 'street_address', 'zip_code', 'city', 'state', 'country', 'credit_card_number',
                         'credit_card_expiration_month', 'credit_card_expiration_year', 'credit_card_cvv')

    def log_message(self, *args):  # the test reads results, not access logs
        pass

    def _send(self, status, body=b'', headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _session(self):
        return 'shop_session-id=s1' in (self.headers.get('Cookie') or '')

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path == '/':
            self._send(200, self.home_page, [('Set-Cookie', 'shop_session-id=s1; Path=/')])
        elif self.path == '/product/OLJCESPC7Z' and self._session():
            self._send(200, b'<h2>Sunglasses</h2>')
        elif self.path == '/kiali/api/namespaces/graph?namespaces=default&graphType=workload':
            if self.headers.get('Authorization') != 'Bearer ' + self.token:
                self._send(401, b'Unauthorized')
                return
            graph = {'elements': {'nodes': [
                {'data': {'id': 'a', 'nodeType': 'workload', 'workload': 'frontend'}},
                {'data': {'id': 'b', 'nodeType': 'workload', 'workload': 'productcatalogservice',
                          'hasWorkloadEntry': [{'name': ENTRY}]}}], 'edges': []}}
            self._send(200, json.dumps(graph).encode(), [('Content-Type', 'application/json')])
        else:
            self._send(404)

    def do_POST(self):  # noqa: N802
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers.get('Content-Length', 0))).decode())
        if self.path == '/cart' and self._session() and form.get('product_id') == ['OLJCESPC7Z'] and form.get('quantity') == ['1']:
            self._send(302, headers=[('Location', '/cart')])
        elif self.path == '/cart/checkout' and self._session() and all(form.get(name) for name in self.required_checkout):
            type(self).orders += 1
            self._send(200, self.checkout_page)
        else:
            self._send(400 if self.path.startswith('/cart') else 404)


@pytest.fixture
def shop():
    _Shop.orders = 0
    server = ThreadingHTTPServer(('127.0.0.1', 0), _Shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_storefront_and_kiali_checks_when_their_urls_are_given(verify, cluster, shop, tmp_path, monkeypatch):
    kubectl = cluster[1]
    kubectl.run('apply', '-f', '-', stdin=json.dumps(_entry({'app': 'productcatalogservice', 'version': 'v1'})))
    _set_health(kubectl, 'True')
    urls = {'mesh_verify_storefront_url': shop + '/', 'mesh_verify_kiali_url': shop + '/kiali',
            'mesh_verify_kiali_token': _Shop.token, 'mesh_verify_grpc_check': False}
    passed = verify(**urls)
    report = _report(tmp_path)
    for check in ('storefront home', 'storefront product page', 'storefront add to cart', 'storefront checkout',
                  'Kiali graph'):
        assert 'PASSED   %s' % check in report, report
    assert 'order confirmation shown' in report and 'productcatalogservice (%s)' % ENTRY in report
    assert 'SKIPPED  mTLS call' in report and 'mesh_verify_grpc_check is false: not asked for' in report
    assert _Shop.token not in json.dumps(passed.report), 'the Kiali token is never shown'
    assert _Shop.orders == 1

    # A check run reads the pages and the graph, and puts nothing in a cart.
    checked = verify(check=True, **urls)
    assert checked.changed() == 0 and _Shop.orders == 1
    results = checked.task(ROLE + 'Record the storefront checks')['ansible_facts']['mesh_verify_results']
    statuses = dict((result['check'], (result['status'], result['detail'])) for result in results)
    assert statuses['storefront home'][0] == statuses['storefront product page'][0] == 'passed'
    assert statuses['storefront add to cart'] == (
        'skipped', 'not proven that a product can be put in the cart (check mode: nothing is put in the cart)')
    assert statuses['storefront checkout'] == ('skipped', 'not proven that an order goes through (check mode: nothing is ordered)')

    monkeypatch.setattr(_Shop, 'checkout_page', b'<h3>Something went wrong</h3>')
    failed = _failure(verify(expect_failure=True, **dict(urls, mesh_verify_kiali_token='wrong')))
    assert 'storefront checkout %s/cart/checkout: HTTP 200, no order confirmation on the page' % shop in failed
    assert "Kiali graph default: HTTP 401 from Kiali's graph API" in failed
    assert '2 mesh check(s) failed' in failed


def test_calls_turned_off_on_purpose_are_unproven_not_failed(verify, cluster, tmp_path):
    kubectl = cluster[1]
    kubectl.run('apply', '-f', '-', stdin=json.dumps(_entry({'app': 'productcatalogservice', 'version': 'v1'})))
    _set_health(kubectl, 'True')
    passed = verify(mesh_verify_grpc_check=False)
    report = _report(tmp_path)
    assert ('SKIPPED  %-24s istio-gce/productcatalogservice\n           not proven that a mesh identity ' % 'mTLS call'
            + 'reaches productcatalogservice on istio-gce over mutual TLS through its sidecar (mesh_verify_grpc_check is '
            'false: not asked for)') in report
    assert 'not proven that productcatalogservice on istio-gce refuses cleartext (STRICT mTLS)' in report
    assert 'not proven that the storefront works through the ingress' in report
    assert report.splitlines()[-1] == ('Result: 2 proven, 0 failed, 6 unproven (not asked for: they did not run and prove '
                                       'nothing); 2 of the 2 checks asked for proven')
    tally = passed.task(ROLE + 'Count what was asked for, proven and unproven')['ansible_facts']['mesh_verify_tally']
    assert (tally['required'], tally['proven'], tally['failed'], tally['unproven'], tally['missing']) == (2, 2, 0, 6, [])


def test_checks_asked_for_that_cannot_run_fail_the_run(verify, cluster, tmp_path):
    # The storefront asked for without an address to call (as site.yml asks for it when the ingress has none):
    # before, each step was a skip and the run passed.
    kubectl = cluster[1]
    kubectl.run('apply', '-f', '-', stdin=json.dumps(_entry({'app': 'productcatalogservice', 'version': 'v1'})))
    _set_health(kubectl, 'True')
    # And the call from a VM that is no host of the inventory (this one has only localhost): nothing can run it.
    failed = verify(expect_failure=True, mesh_verify_storefront_check=True, mesh_verify_kiali_check=True,
                    mesh_verify_from_vms_check=True)
    assert failed.returncode != 0
    message = _failure(failed)
    assert '6 mesh check(s) failed' in message
    assert 'VM to cluster istio-gce: istio-gce is not a host of the inventory, so nothing can call from it' in message
    for check in ('storefront home', 'storefront product page', 'storefront add to cart', 'storefront checkout'):
        assert ('%s ingress: asked for, but did not run, so nothing is proven: mesh_verify_storefront_url is empty' % check) in message
    assert 'Kiali graph default: asked for, but did not run, so nothing is proven: mesh_verify_kiali_url is empty' in message
    assert '(4 of the 10 checks asked for proven;' in message
    report = _report(tmp_path)
    skipped = [line for line in report.splitlines() if line.startswith('  SKIPPED')]
    assert skipped == ['  SKIPPED  %-24s istio-gce/productcatalogservice' % 'pod to VM']
    assert report.splitlines()[-1].startswith('Result: 4 proven, 6 failed, 1 unproven')


def test_a_storefront_step_that_did_not_run_after_a_failed_one_fails_too(verify, cluster, shop, tmp_path, monkeypatch):
    kubectl = cluster[1]
    kubectl.run('apply', '-f', '-', stdin=json.dumps(_entry({'app': 'productcatalogservice', 'version': 'v1'})))
    _set_health(kubectl, 'True')
    # The home page has no product link: the product page, the cart and the checkout cannot run.
    monkeypatch.setattr(_Shop, 'home_page', b'<p>no products</p>')
    failed = verify(expect_failure=True, mesh_verify_storefront_url=shop, mesh_verify_grpc_check=False)
    assert failed.returncode != 0
    message = _failure(failed)
    assert '4 mesh check(s) failed' in message
    assert 'storefront home %s/: HTTP 200' % shop in message
    assert 'storefront checkout %s/cart/checkout: asked for, but did not run, so nothing is proven: an earlier storefront step failed' % shop in message
    assert _report(tmp_path).splitlines()[-1].startswith('Result: 2 proven, 4 failed, 5 unproven')


LEFTOVER_JOB = {
    'apiVersion': 'batch/v1', 'kind': 'Job',
    'metadata': {'name': 'mesh-verify-client', 'namespace': 'default'},
    'spec': {'backoffLimit': 0, 'template': {'spec': {
        'restartPolicy': 'Never', 'serviceAccountName': 'frontend',
        'containers': [{'name': 'from-a-killed-run', 'image': 'fullstorydev/grpcurl:v1.9.3'}]}}},
}


def _healthy_entry(kubectl):
    kubectl.run('apply', '-f', '-', stdin=json.dumps(_entry({'app': 'productcatalogservice', 'version': 'v1'})))
    _set_health(kubectl, 'True')


def test_a_client_job_in_the_mesh_calls_each_vm_service_and_is_removed(verify, cluster, catalog_port, tmp_path):
    """The Job's life as the role leads it: a killed run's Job goes first, the client Job is made, its pod's container
    for each VM service is read, and the Job and its ConfigMap are gone afterwards. This cluster's nodes are KWOK's,
    which complete a Job's pod with exit code 0 for each container it names without running anything: this proves
    how the role makes and reads the Job, not the mTLS path (the lab's real pods and sidecars prove that)."""
    kubectl = cluster[1]
    _healthy_entry(kubectl)
    kubectl.run('create', 'serviceaccount', 'frontend', '-n', 'default', check=False)
    kubectl.run('apply', '-f', '-', stdin=json.dumps(LEFTOVER_JOB))
    passed = verify(mesh_verify_from_cluster_check=True, mesh_verify_grpc_check=False)
    report = _report(tmp_path)
    container = 'productcatalogservice-%d' % catalog_port
    assert ('PASSED   %-24s istio-gce/productcatalogservice\n           grpc.health.v1.Health/Check to '
            'productcatalogservice.default.svc.cluster.local:%d from the pod of Job default/mesh-verify-client as '
            % ('pod to VM', catalog_port)) in report
    assert 'spiffe://cluster.local/ns/default/sa/frontend: answered' in report
    assert kubectl.missing('job', 'mesh-verify-client', 'default')
    assert kubectl.missing('configmap', 'mesh-verify-protos', 'default')
    # Scratch state: only the report's first writing is a change.
    changed = [task['task']['name'] for play in passed.report['plays'] for task in play['tasks']
               if task['hosts'].get('localhost', {}).get('changed')]
    assert changed == [ROLE + name for name in ('Ensure the report directory exists', 'Write the report', 'Draw the topology')]
    # The pod the role read was its own Job's, with one container per VM service.
    pods = passed.task(ROLE + 'Wait for the client pod to finish its calls (Succeeded or Failed)')['resources']
    assert [[c['name'] for c in pod['spec']['containers']] for pod in pods] == [[container]]
    spec = pods[0]['spec']['containers'][0]
    assert spec['args'] == ['-plaintext', '-max-time', '10', '-import-path', '/protos', '-proto', 'health.proto',
                            'productcatalogservice.default.svc.cluster.local:%d' % catalog_port, 'grpc.health.v1.Health/Check']
    assert pods[0]['metadata']['annotations']['sidecar.istio.io/nativeSidecar'] == 'true'

    # A check run starts nothing in the cluster: the calls are unproven, not asked for.
    checked = verify(check=True, mesh_verify_from_cluster_check=True, mesh_verify_grpc_check=False)
    assert checked.changed() == 0 and kubectl.missing('job', 'mesh-verify-client', 'default')
    results = checked.task(ROLE + 'Count what was asked for, proven and unproven')['ansible_facts']['mesh_verify_tally']['results']
    assert [(r['status'], r['detail']) for r in results if r['check'] == 'pod to VM'] == [
        ('skipped', 'not proven that a pod in the cluster reaches productcatalogservice on istio-gce by its Service name over '
                    "the mesh's mutual TLS (check mode: no client is started in the cluster)")]


def test_a_client_pod_that_cannot_be_made_fails_with_the_jobs_events(verify, cluster, tmp_path):
    kubectl = cluster[1]
    _healthy_entry(kubectl)
    failed = verify(expect_failure=True, mesh_verify_from_cluster_check=True, mesh_verify_grpc_check=False,
                    mesh_verify_client_service_account='nobody')
    message = _failure(failed)
    assert '1 mesh check(s) failed' in message
    assert 'pod to VM istio-gce/productcatalogservice: Job default/mesh-verify-client made no pod in 4 s; FailedCreate:' in message
    assert 'serviceaccount "nobody" not found' in message or 'service account default/nobody' in message, message
    assert kubectl.missing('job', 'mesh-verify-client', 'default')


def test_the_call_from_a_vm_runs_on_its_inventory_host_over_its_own_connection(verify, cluster, tmp_path):
    """Delegated to the inventory host named as the VM, with the connection that host sets (local here; the play's
    fallback is ssh, which could not reach a host called istio-gce). Nothing here answers the cluster name, so the
    call fails and says what it tried."""
    kubectl = cluster[1]
    _healthy_entry(kubectl)
    # The VM host's own Python leaves a mark when a module runs with it: the call ran as that host's task.
    marker = tmp_path / 'ran-on-istio-gce'
    python = tmp_path / 'vm-python'
    python.write_text('#!/bin/sh\ntouch %s\nexec %s "$@"\n' % (marker, sys.executable))
    python.chmod(0o755)
    inventory = tmp_path / 'vms.ini'
    inventory.write_text('localhost ansible_connection=local\n'
                         'istio-gce ansible_connection=local ansible_user=vmuser ansible_python_interpreter=%s\n' % python)
    failed = verify(expect_failure=True, inventory=str(inventory), mesh_verify_from_vms_check=True,
                    mesh_verify_grpc_check=False,
                    mesh_verify_cluster_target={'service': 'frontend', 'port': 8080, 'path': '/_healthz', 'expect': 'ok'})
    message = _failure(failed)
    assert '1 mesh check(s) failed' in message
    assert 'VM to cluster istio-gce: GET http://frontend.default.svc.cluster.local:8080/_healthz on istio-gce as vmuser:' in message
    assert 'Request failed' in message and 'attempt(s)' in message
    calls = failed.task(ROLE + 'Call a cluster service by name from each VM, through its sidecar')['results']
    assert [(call['item']['name'], call.get('unreachable', False), call['status']) for call in calls] == [('istio-gce', False, -1)]
    assert marker.exists()
