"""The online_boutique role through real ansible-playbook, against a real control plane (lab.kubernetes.testing)
with Istio's CRDs (their schemas enforced), read back with the kubernetes client.

The tests that need Istio's CRDs share one control plane (module scope: one start, not one a test); each works in a
namespace of its own, but for default, which the first test deploys to and the refused runs must leave alone. The
rollout is real: KWOK's node runs the pods (as Ready, with nothing in them), and a cluster without nodes
(``nodes=()``) never schedules one, so its Deployments never become Available until a node is added."""

import threading
import time

import pytest
from kubernetes import config, dynamic
from kubernetes.dynamic.exceptions import NotFoundError

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.workload_group import VmWorkload
from lab.istio.testing import istio_crds
from lab.kubernetes.testing import running_control_plane

REGISTRY = 'us-central1-docker.pkg.dev/google-samples/microservices-demo'
OURS = 'app.kubernetes.io/managed-by=meshbridge.istio_vm.online_boutique'
IN_CLUSTER = {'frontend', 'adservice', 'currencyservice', 'cartservice', 'redis-cart', 'recommendationservice',
              'checkoutservice', 'emailservice', 'paymentservice', 'shippingservice'}

ROLE = 'meshbridge.istio_vm.online_boutique : '
PLAY = '''
- name: Online Boutique
  hosts: localhost
  gather_facts: false
  roles:
    - role: meshbridge.istio_vm.online_boutique
'''


CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions'
ESTABLISHED_TIMEOUT = 30
NODE_DELAY = 10                 # s after the role ended without waiting: the cluster gets its first node


def _wait_established(plane, names, timeout=ESTABLISHED_TIMEOUT):
    """Return once the API server serves the CRDs ``names`` (condition Established), as kubectl wait would."""
    deadline = time.monotonic() + timeout
    while True:
        waiting = []
        for name in names:
            status, crd = plane.api('GET', CRDS + '/' + name)
            conditions = ((crd if status == 200 else {}).get('status') or {}).get('conditions') or []
            if not any(c.get('type') == 'Established' and c.get('status') == 'True' for c in conditions):
                waiting.append(name)
        if not waiting:
            return
        assert time.monotonic() < deadline, 'CRDs not Established within %d s: %s' % (timeout, ', '.join(waiting))
        time.sleep(0.1)


@pytest.fixture(scope='module')
def istio_cluster(tmp_path_factory):
    """A control plane of this module's, one node, with Istio's CRDs Established."""
    with running_control_plane(tmp_path_factory.mktemp('kube')) as plane:
        for crd in istio_crds():
            status, answer = plane.api('POST', CRDS, crd)
            assert status == 201, (crd['metadata']['name'], status, answer)
        _wait_established(plane, [crd['metadata']['name'] for crd in istio_crds()])
        yield plane


@pytest.fixture
def istio_api(istio_cluster):
    """The kubernetes client's DynamicClient on the cluster with Istio's CRDs (context ``lab``)."""
    return dynamic.DynamicClient(config.new_client_from_config(config_file=istio_cluster.kubeconfig, context='lab'))


def _runner(run_playbook, kubeconfig):
    def run(check=False, diff=False, expect_failure=False, **variables):
        extra = {'online_boutique_kubeconfig': kubeconfig, 'online_boutique_context': 'lab',
                 'online_boutique_wait_timeout': 30}
        extra.update(('online_boutique_' + key, value) for key, value in variables.items())
        return run_playbook(PLAY, extra_vars=extra, check=check, diff=diff, expect_failure=expect_failure)
    return run


@pytest.fixture
def boutique(run_playbook, istio_cluster):
    """The role on the module's cluster with Istio's CRDs."""
    return _runner(run_playbook, istio_cluster.kubeconfig)


@pytest.fixture
def bare_boutique(run_playbook, kube):
    """The role on a cluster of the test's own, without Istio (conftest's ``kube``; ``api`` reads it)."""
    return _runner(run_playbook, kube.kubeconfig)


def _get(api, kind, name, namespace='default', api_version='v1'):
    try:
        return api.resources.get(api_version=api_version, kind=kind).get(name=name, namespace=namespace).to_dict()
    except NotFoundError:
        return None


def _names(api, kind, namespace='default', api_version='v1', selector=OURS):
    listing = api.resources.get(api_version=api_version, kind=kind).get(namespace=namespace, label_selector=selector)
    return {item['metadata']['name'] for item in listing.to_dict()['items']}


def _container(deployment):
    return deployment['spec']['template']['spec']['containers'][0]


def _env(deployment):
    return {item['name']: item['value'] for item in _container(deployment).get('env') or []}


def _changed_objects(task):
    return {(r['result']['kind'], r['result']['metadata']['name']) for r in task['result']['results'] if r['changed']}


def _vm_service(api):
    """The Service mesh_add_vm makes for a VM's productcatalogservice, made here with mesh_add_vm's own code."""
    workload = VmWorkload({'name': 'productcatalogservice', 'namespace': 'default',
                           'ports': [{'number': 3550, 'protocol': 'grpc', 'name': None}]})
    [service] = workload.service_objects()
    return api.resources.get(api_version='v1', kind='Service').server_side_apply(
        body=service, name='productcatalogservice', namespace='default', field_manager='meshbridge').to_dict()


def test_deploys_minus_the_vm_services_idempotently_prunes_and_removes(boutique, istio_api):
    api = istio_api
    first = boutique(vm_services=['productcatalogservice'])
    assert first.changed() > 0

    deployments = _names(api, 'Deployment', api_version='apps/v1')
    assert deployments == IN_CLUSTER, 'the VM service and the load generator are not deployed'
    assert _get(api, 'Deployment', 'productcatalogservice', api_version='apps/v1') is None
    assert _get(api, 'Service', 'productcatalogservice') is None, "the VM service's Service is mesh_add_vm's"
    assert _get(api, 'ServiceAccount', 'productcatalogservice') is None
    assert _names(api, 'Service') == IN_CLUSTER and _names(api, 'ServiceAccount') == IN_CLUSTER - {'redis-cart'}

    frontend = _get(api, 'Deployment', 'frontend', api_version='apps/v1')
    assert _container(frontend)['image'] == REGISTRY + '/frontend:v0.10.5'
    assert _container(frontend)['ports'] == [{'containerPort': 8080, 'protocol': 'TCP'}]
    assert _env(frontend)['PRODUCT_CATALOG_SERVICE_ADDR'] == 'productcatalogservice:3550'
    assert _env(frontend)['PORT'] == '8080' and len(_env(frontend)) == 10
    assert _container(frontend)['readinessProbe']['httpGet']['path'] == '/_healthz'
    assert frontend['spec']['template']['spec']['serviceAccountName'] == 'frontend'
    assert frontend['status']['availableReplicas'] == 1
    email = _get(api, 'Deployment', 'emailservice', api_version='apps/v1')
    assert _container(email)['readinessProbe']['grpc']['port'] == 8080
    assert _container(email)['resources'] == {'requests': {'cpu': '100m', 'memory': '64Mi'},
                                              'limits': {'cpu': '200m', 'memory': '128Mi'}}
    redis = _get(api, 'Deployment', 'redis-cart', api_version='apps/v1')
    assert _container(redis)['image'] == 'redis:alpine'
    assert _container(redis)['volumeMounts'] == [{'name': 'redis-data', 'mountPath': '/data'}]
    assert redis['spec']['template']['spec']['volumes'] == [{'name': 'redis-data', 'emptyDir': {}}]
    assert _container(redis)['securityContext']['readOnlyRootFilesystem'] is True

    ports = {name: _get(api, 'Service', name)['spec']['ports'][0]
             for name in ('frontend', 'emailservice', 'redis-cart')}
    assert (ports['frontend']['name'], ports['frontend']['port'], ports['frontend']['targetPort']) == ('http', 80, 8080)
    assert (ports['emailservice']['name'], ports['emailservice']['port'], ports['emailservice']['targetPort']) == \
        ('grpc', 5000, 8080)
    assert ports['redis-cart']['name'] == 'tcp-redis'
    assert _get(api, 'Service', 'frontend-external') is None

    labels = _get(api, 'Namespace', 'default', namespace=None)['metadata']['labels']
    assert labels['istio-injection'] == 'enabled'
    assert 'app.kubernetes.io/managed-by' not in labels, 'default existed before: not this role to delete'

    # The server prunes fields its CRD schema does not know: what it stored is what the role sent.
    gateway = _get(api, 'Gateway', 'frontend-gateway', api_version='networking.istio.io/v1')
    assert gateway['spec'] == {'selector': {'istio': 'ingressgateway'},
                               'servers': [{'port': {'number': 80, 'name': 'http', 'protocol': 'HTTP'},
                                            'hosts': ['*']}]}
    ingress = _get(api, 'VirtualService', 'frontend-ingress', api_version='networking.istio.io/v1')
    assert ingress['spec'] == {'hosts': ['*'], 'gateways': ['frontend-gateway'],
                               'http': [{'route': [{'destination': {'host': 'frontend', 'port': {'number': 80}}}]}]}

    # mesh_add_vm's Service for the VM appears; the role neither fights over it nor touches it.
    vm_service = _vm_service(api)
    second = boutique(vm_services=['productcatalogservice'])
    assert second.changed() == 0
    assert _get(api, 'Service', 'productcatalogservice')['metadata']['resourceVersion'] == \
        vm_service['metadata']['resourceVersion']

    before = frontend['metadata']['resourceVersion']
    checked = boutique(check=True, diff=True, vm_services=['productcatalogservice'], image_tag='v0.10.6')
    applied = checked.task(ROLE + 'Apply the services that run in the cluster and the storefront\'s ingress')
    changed = _changed_objects(applied)
    assert changed == {('Deployment', name) for name in IN_CLUSTER - {'redis-cart'}}
    frontend_diff = [r['diff'] for r in applied['result']['results'] if r['result']['metadata']['name'] == 'frontend'
                     and r['result']['kind'] == 'Deployment'][0]
    assert _container(frontend_diff['before'])['image'].endswith('/frontend:v0.10.5')
    assert _container(frontend_diff['after'])['image'].endswith('/frontend:v0.10.6')
    assert _get(api, 'Deployment', 'frontend', api_version='apps/v1')['metadata']['resourceVersion'] == before

    # cartservice moves to a VM, the load generator comes on: what the role made for cartservice goes.
    moved = boutique(vm_services=['productcatalogservice', 'cartservice'], loadgenerator=True)
    assert moved.changed() > 0
    assert _names(api, 'Deployment', api_version='apps/v1') == IN_CLUSTER - {'cartservice'} | {'loadgenerator'}
    assert _get(api, 'Service', 'cartservice') is None and _get(api, 'ServiceAccount', 'cartservice') is None
    loadgenerator = _get(api, 'Deployment', 'loadgenerator', api_version='apps/v1')
    assert _env(loadgenerator) == {'FRONTEND_ADDR': 'frontend:80', 'USERS': '10', 'RATE': '1'}
    assert 'ports' not in _container(loadgenerator) and _get(api, 'Service', 'loadgenerator') is None

    removed = boutique(state='absent')
    assert removed.changed() > 0
    for kind, api_version in (('Deployment', 'apps/v1'), ('Service', 'v1'), ('ServiceAccount', 'v1'),
                              ('Gateway', 'networking.istio.io/v1'), ('VirtualService', 'networking.istio.io/v1')):
        assert _names(api, kind, api_version=api_version) == set(), kind
    assert _get(api, 'Service', 'productcatalogservice') is not None, "mesh_add_vm's Service stays"
    assert 'istio-injection' not in _get(api, 'Namespace', 'default', namespace=None)['metadata']['labels']
    assert boutique(state='absent').changed() == 0


def test_check_mode_on_a_new_namespace_then_create_and_delete_it(boutique, istio_api):
    api = istio_api
    checked = boutique(check=True, namespace='shop')
    assert checked.changed() == 1, 'the namespace; nothing in it can be dry-run before it exists'
    assert 'cannot be dry-run' in checked.task(ROLE + 'Say what check mode cannot predict')['msg']
    assert _get(api, 'Namespace', 'shop', namespace=None) is None

    created = boutique(namespace='shop', istio_revision='canary', ingress=False)
    labels = _get(api, 'Namespace', 'shop', namespace=None)['metadata']['labels']
    assert labels['istio.io/rev'] == 'canary' and 'istio-injection' not in labels
    assert labels['app.kubernetes.io/managed-by'] == 'meshbridge.istio_vm.online_boutique'
    assert _names(api, 'Deployment', 'shop', 'apps/v1') == IN_CLUSTER | {'productcatalogservice'}
    assert _names(api, 'Gateway', 'shop', 'networking.istio.io/v1') == set()
    assert created.changed() > 0

    boutique(namespace='shop', state='absent')
    assert _get(api, 'Namespace', 'shop', namespace=None) is None, 'the role created it, so the role deletes it'


def test_a_revision_removes_an_injection_label_someone_else_set(boutique, istio_api):
    api = istio_api
    namespaces = api.resources.get(api_version='v1', kind='Namespace')
    namespaces.create(body={'apiVersion': 'v1', 'kind': 'Namespace',
                            'metadata': {'name': 'legacy', 'labels': {'istio-injection': 'enabled', 'team': 'shop'}}})
    boutique(namespace='legacy', istio_revision='canary', vm_services=['productcatalogservice'])
    labels = _get(api, 'Namespace', 'legacy', namespace=None)['metadata']['labels']
    assert labels['istio.io/rev'] == 'canary' and 'istio-injection' not in labels and labels['team'] == 'shop'

    boutique(namespace='legacy', state='absent')
    labels = _get(api, 'Namespace', 'legacy', namespace=None)['metadata']['labels']
    assert 'istio.io/rev' not in labels and labels['team'] == 'shop', 'kept, with what others set'


@pytest.mark.parametrize('variables, message', [
    ({'vm_services': ['productcatalogservice', 'inventoryservice']},
     'online_boutique_vm_services must be one or more of: frontend, adservice, currencyservice, cartservice, '
     'redis-cart, recommendationservice, checkoutservice, emailservice, paymentservice, shippingservice, '
     'productcatalogservice. Got no match for: inventoryservice'),
    ({'namespace': 'Shop_1'}, 'online_boutique_namespace: "Shop_1" has characters other than lowercase letters, digits '
                              'and hyphens; use only a-z, 0-9 and -'),
])
def test_bad_input_is_refused_before_anything_changes(boutique, istio_api, variables, message):
    failed = boutique(expect_failure=True, **variables)
    assert failed.changed() == 0
    assert message in str(failed.report['plays'][0]['tasks'][-1]['hosts']['localhost']['msg'])
    assert _names(istio_api, 'Deployment', api_version='apps/v1', selector='') == set()
    labels = _get(istio_api, 'Namespace', 'default', namespace=None)['metadata'].get('labels') or {}
    assert 'istio-injection' not in labels


def test_ingress_without_istio_is_refused_before_anything_changes(bare_boutique, api):
    failed = bare_boutique(expect_failure=True)
    assert 'no gateways.networking.istio.io CRD: install Istio first' in \
        failed.task(ROLE + "Check Istio's CRDs are installed before the ingress needs them")['msg']
    assert 'istio-injection' not in (_get(api, 'Namespace', 'default', namespace=None)['metadata'].get('labels') or {})


def test_the_wait_is_bounded_and_names_what_is_not_ready(run_playbook, tmp_path):
    # No node: the scheduler places no pod, so no Deployment ever becomes Available.
    with running_control_plane(tmp_path / 'slow-kube', nodes=()) as slow:
        failed = run_playbook(PLAY, expect_failure=True, extra_vars={
            'online_boutique_kubeconfig': slow.kubeconfig, 'online_boutique_ingress': False,
            'online_boutique_vm_services': ['productcatalogservice'], 'online_boutique_wait_timeout': 3})
    message = failed.task(ROLE + 'Name the Deployments that are not ready')['msg']
    assert message.startswith('Not rolled out within 3 s in namespace default: adservice, cartservice, ')
    assert 'productcatalogservice' not in message and 'raise online_boutique_wait_timeout' in message


class _Later(threading.Thread):
    """Call ``action`` after ``delay`` s in a thread; ``join()`` re-raises what it raised."""

    def __init__(self, delay, action):
        super().__init__(daemon=True)
        self.delay, self.action, self.error = delay, action, None

    def run(self):
        try:
            time.sleep(self.delay)
            self.action()
        except BaseException as error:  # re-raised by join()
            self.error = error

    def join(self, timeout=None):
        super().join(timeout)
        if self.error is not None:
            raise self.error


def test_without_the_wait_the_role_ends_at_once_and_the_wait_entry_point_waits(run_playbook, tmp_path):
    # No node until NODE_DELAY s after the role has ended: only then can the Deployments roll out.
    with running_control_plane(tmp_path / 'slow-kube', nodes=()) as slow:
        settings = {'online_boutique_kubeconfig': slow.kubeconfig, 'online_boutique_ingress': False,
                    'online_boutique_wait_timeout': 60}
        applied = run_playbook(PLAY, extra_vars=dict(settings, online_boutique_wait=False))
        node = _Later(NODE_DELAY, lambda: slow.add_node('n2'))
        node.start()
        try:
            assert applied.changed() > 0
            with pytest.raises(AssertionError, match='no task named'):
                applied.task(ROLE + 'Wait until every Deployment has rolled out')
            waited = run_playbook('''
                - hosts: localhost
                  gather_facts: false
                  tasks:
                    - name: Wait for the rollout
                      ansible.builtin.include_role:
                        name: meshbridge.istio_vm.online_boutique
                        tasks_from: wait
            ''', extra_vars=settings)
        finally:
            node.join()
    polls = waited.task(ROLE + 'Wait until every Deployment has rolled out')['attempts']
    assert polls > 1, 'the Deployments became Available only after the role had ended'
