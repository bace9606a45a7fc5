"""mesh_add_vm through real ansible-playbook against a real control plane, checked with the real kubectl.

Istio is installed by the lab's istioctl (``istioctl install -f``), which creates what a real install creates:
Istio's CRDs with their schemas (so each object mesh_add_vm writes is validated), istiod's Deployment (made Available
by kube-controller-manager and KWOK), the mesh and injector ConfigMaps and the east-west gateway's LoadBalancer
Service (whose address the lab's LoadBalancer controller assigns). istiod itself does not run here: the fixture does
the one thing of its that mesh_add_vm reads, publishing ConfigMap istio-ca-root-cert (the root of the plug-in CA in
secret istio-system/cacerts) once istiod's Deployment is Available."""

import base64
import json
import os
import re
import stat
import subprocess
import tarfile
import time

import pytest
import yaml

from lab.istio import release
from lab.istio.testing import plug_in_ca_files
from lab.kubernetes.testing import running_control_plane, signed_service_account_token
from tests.support.kubectl import Kubectl as SharedKubectl
from tests.support.istio import TUTORIAL_ISTIO_OPERATOR

ISTIO_VERSION = release.RELEASE
NAMESPACE = 'boutique'
NAMESPACE_YAML = 'apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n' % NAMESPACE
LB_RANGE = '10.168.8.0/24'


class Kubectl(SharedKubectl):
    """kubectl in the test namespace unless told otherwise."""

    def get(self, kind, name, namespace=NAMESPACE):
        return super().get(kind, name, namespace)

    def missing(self, kind, name, namespace=NAMESPACE):
        return super().missing(kind, name, namespace)


def _api(kube, method, path, body=None, expect=(200,)):
    status, answer = kube.api(method, path, body)
    assert status in expect, (method, path, status, answer)
    return answer


def _plug_in_ca(kube, directory):
    """Secret istio-system/cacerts, as the istio_control_plane role makes it before it installs Istio."""
    data = {}
    for name, path in plug_in_ca_files(directory).items():
        with open(path, 'rb') as handle:
            data[name] = base64.b64encode(handle.read()).decode()
    _api(kube, 'POST', '/api/v1/namespaces', {'metadata': {'name': 'istio-system'}}, expect=(201,))
    _api(kube, 'POST', '/api/v1/namespaces/istio-system/secrets',
         {'metadata': {'name': 'cacerts'}, 'type': 'Opaque', 'data': data}, expect=(201,))
    return base64.b64decode(data['root-cert.pem']).decode()


def _publish_istio_root(kube, namespace, root_pem, timeout=60):
    """What istiod's namespace controller does once istiod runs: ConfigMap istio-ca-root-cert in the namespace."""
    deadline = time.monotonic() + timeout
    while True:
        istiod = _api(kube, 'GET', '/apis/apps/v1/namespaces/istio-system/deployments/istiod')
        conditions = (istiod.get('status') or {}).get('conditions') or []
        if any(c['type'] == 'Available' and c['status'] == 'True' for c in conditions):
            break
        assert time.monotonic() < deadline, 'istiod did not become Available: %s' % conditions
        time.sleep(0.2)
    _api(kube, 'POST', '/api/v1/namespaces/%s/configmaps' % namespace, {
        'metadata': {'name': 'istio-ca-root-cert', 'labels': {'istio.io/config': 'true'}},
        'data': {'root-cert.pem': root_pem}}, expect=(201,))


@pytest.fixture(scope='module')
def cluster(tmp_path_factory):
    """A cluster with Istio installed by istioctl (with a plug-in CA), and the application namespace."""
    release_dir = tmp_path_factory.mktemp('release')
    with tarfile.open(release.build(str(release_dir), ISTIO_VERSION)) as tar:
        tar.extractall(release_dir, filter='data')
    istioctl = str(release_dir / ('istio-%s' % ISTIO_VERSION) / 'bin' / 'istioctl')
    operator_file = release_dir / 'iop.yaml'
    operator_file.write_text(TUTORIAL_ISTIO_OPERATOR)
    with running_control_plane(tmp_path_factory.mktemp('kube'), lb_range=LB_RANGE) as api:
        def install(*args):
            installed = subprocess.run([istioctl, 'install', '-y', '--kubeconfig', api.kubeconfig, '--context', 'lab']
                                       + list(args), capture_output=True, text=True, timeout=300, check=False)
            assert installed.returncode == 0, installed.stdout + installed.stderr
        root_pem = _plug_in_ca(api, str(tmp_path_factory.mktemp('ca')))
        install('-f', str(operator_file))
        kubectl = Kubectl(api.kubeconfig, tmp_path_factory.mktemp('home'))
        kubectl.run('apply', '-f', '-', stdin=NAMESPACE_YAML)
        _publish_istio_root(api, NAMESPACE, root_pem)
        kubectl.wait_for('configmap', 'istio-ca-root-cert', NAMESPACE)
        api.kubectl = kubectl
        api.install_istio = install
        yield api


@pytest.fixture
def bundle_dir(tmp_path):
    return str(tmp_path / 'bundle')


def play(cluster, **task):
    """A playbook with one mesh_add_vm task called "Add the VM"."""
    args = {'namespace': NAMESPACE, 'kubeconfig': cluster.kubeconfig, 'context': 'lab'}
    args.update(task)
    return yaml.safe_dump([{'hosts': 'localhost', 'gather_facts': False,
                            'tasks': [{'name': 'Add the VM', 'meshbridge.istio_vm.mesh_add_vm': args}]}])


def catalog(name, bundle_dir, **extra):
    args = {'name': name, 'labels': {'app': name, 'version': 'v1'}, 'ports': [{'number': 3550, 'protocol': 'grpc'}],
            'address': '10.168.0.20', 'bundle_dir': bundle_dir, 'probe': {'tcp_socket': {'port': 3550}, 'period_seconds': 5}}
    args.update(extra)
    return args


def read_bundle(bundle_dir):
    return dict((name, open(os.path.join(bundle_dir, name), encoding='utf-8').read()) for name in os.listdir(bundle_dir))


def token_review(cluster, token):
    review = {'apiVersion': 'authentication.k8s.io/v1', 'kind': 'TokenReview',
              'spec': {'token': token, 'audiences': ['istio-ca']}}
    return json.loads(cluster.kubectl.run('create', '-o', 'json', '-f', '-', stdin=json.dumps(review)).stdout)['status']


def test_auto_registration_creates_objects_and_bundle_then_changes_nothing(cluster, run_playbook, bundle_dir):
    result = run_playbook(play(cluster, **catalog('catalog-auto', bundle_dir)))
    added = result.task('Add the VM')
    assert added['changed'] and result.changed() == 1
    kubectl = cluster.kubectl

    group = kubectl.get('workloadgroups.networking.istio.io', 'catalog-auto')
    assert group['apiVersion'] == 'networking.istio.io/v1'
    assert group['spec']['template'] == {'serviceAccount': 'catalog-auto', 'ports': {'grpc-3550': 3550}}
    assert group['spec']['metadata']['labels'] == {'app': 'catalog-auto', 'version': 'v1'}
    assert group['spec']['probe'] == {'periodSeconds': 5, 'tcpSocket': {'port': 3550}}
    service = kubectl.get('service', 'catalog-auto')
    assert service['spec']['selector'] == {'app': 'catalog-auto', 'version': 'v1'}
    assert [(p['name'], p['port']) for p in service['spec']['ports']] == [('grpc-3550', 3550)]
    kubectl.get('serviceaccount', 'catalog-auto')
    assert kubectl.missing('workloadentries.networking.istio.io', 'catalog-auto-10-168-0-20')

    assert stat.S_IMODE(os.stat(bundle_dir).st_mode) == 0o700
    assert sorted(os.listdir(bundle_dir)) == ['cluster.env', 'hosts', 'istio-token', 'mesh.yaml', 'root-cert.pem']
    assert all(stat.S_IMODE(os.stat(os.path.join(bundle_dir, n)).st_mode) == 0o600 for n in os.listdir(bundle_dir))
    files = read_bundle(bundle_dir)
    gateway_ip = kubectl.get('service', 'istio-eastwestgateway', 'istio-system')['status']['loadBalancer']['ingress'][0]['ip']
    assert files['hosts'] == '%s istiod.istio-system.svc\n' % gateway_ip
    assert files['root-cert.pem'] == kubectl.get('configmap', 'istio-ca-root-cert')['data']['root-cert.pem']
    env = dict(line.split('=', 1) for line in files['cluster.env'].splitlines())
    assert env['ISTIO_META_AUTO_REGISTER_GROUP'] == "'catalog-auto'"
    assert env['ISTIO_META_CLUSTER_ID'] == "'west'"
    assert env['ISTIO_META_MESH_ID'] == "'mesh1'"
    assert env['SERVICE_ACCOUNT'] == "'catalog-auto'"
    assert yaml.safe_load(files['mesh.yaml'])['defaultConfig']['readinessProbe'] == {'tcpSocket': {'port': 3550}, 'periodSeconds': 5}

    status = token_review(cluster, files['istio-token'])
    assert status['authenticated'] and status['user']['username'] == 'system:serviceaccount:%s:catalog-auto' % NAMESPACE
    assert files['istio-token'] not in json.dumps(result.report) + result.stderr
    assert added['spiffe_id'] == 'spiffe://cluster.local/ns/%s/sa/catalog-auto' % NAMESPACE
    assert added['token_expires_at'] and added['workload_entry'] is None

    again = run_playbook(play(cluster, **catalog('catalog-auto', bundle_dir)))
    assert again.changed() == 0
    assert read_bundle(bundle_dir) == files


def test_check_mode_predicts_and_changes_nothing(cluster, run_playbook, bundle_dir):
    result = run_playbook(play(cluster, **catalog('catalog-check', bundle_dir)), check=True, diff=True)
    assert result.changed() == 1
    task = result.task('Add the VM')
    assert task['token_reissued'] and task['token_expires_at'] is None
    headers = [diff['after_header'] for diff in task['diff']]
    assert os.path.join(bundle_dir, 'cluster.env') in headers and any('WorkloadGroup' in h for h in headers)
    token_diff = [diff for diff in task['diff'] if diff['after_header'].endswith('istio-token')][0]
    assert token_diff['after'] == '(token for system:serviceaccount:%s:catalog-check, audience istio-ca)\n' % NAMESPACE
    assert cluster.kubectl.missing('workloadgroups.networking.istio.io', 'catalog-check')
    assert cluster.kubectl.missing('service', 'catalog-check')
    assert not os.path.exists(bundle_dir)

    run_playbook(play(cluster, **catalog('catalog-check', bundle_dir)))
    assert run_playbook(play(cluster, **catalog('catalog-check', bundle_dir)), check=True).changed() == 0


def test_static_entry_when_auto_registration_is_off(cluster, run_playbook, bundle_dir):
    run_playbook(play(cluster, **catalog('catalog-static', bundle_dir, auto_register=False)))
    entry = cluster.kubectl.get('workloadentries.networking.istio.io', 'catalog-static-10-168-0-20')
    assert entry['spec'] == {'address': '10.168.0.20', 'labels': {'app': 'catalog-static', 'version': 'v1'},
                             'serviceAccount': 'catalog-static', 'ports': {'grpc-3550': 3550}}
    assert 'ISTIO_META_AUTO_REGISTER_GROUP' not in read_bundle(bundle_dir)['cluster.env']
    assert run_playbook(play(cluster, **catalog('catalog-static', bundle_dir, auto_register=False))).changed() == 0


def test_legacy_mode_makes_the_tutorial_service_and_service_entry(cluster, run_playbook, bundle_dir):
    args = catalog('catalog-legacy', bundle_dir, mode='legacy')
    run_playbook(play(cluster, **args))
    service = cluster.kubectl.get('service', 'catalog-legacy')
    assert 'selector' not in service['spec']
    assert service['metadata']['annotations']['kubernetes.io/service-account.name'] == 'catalog-legacy'
    assert [(p['name'], p['port']) for p in service['spec']['ports']] == [('grpc-3550', 3550)]
    entry = cluster.kubectl.get('serviceentries.networking.istio.io', 'mesh-expansion-catalog-legacy')
    assert entry['spec'] == {'hosts': ['catalog-legacy.%s.svc.cluster.local' % NAMESPACE],
                             'ports': [{'number': 3550, 'protocol': 'GRPC', 'name': 'grpc-3550'}],
                             'endpoints': [{'address': '10.168.0.20'}], 'resolution': 'STATIC', 'location': 'MESH_INTERNAL'}
    assert cluster.kubectl.missing('workloadgroups.networking.istio.io', 'catalog-legacy')
    assert run_playbook(play(cluster, **args)).changed() == 0


def test_expired_or_renewing_token_is_reissued_and_nothing_else_changes(cluster, run_playbook, bundle_dir):
    run_playbook(play(cluster, **catalog('catalog-token', bundle_dir, token_duration=600)))
    token_path = os.path.join(bundle_dir, 'istio-token')
    # A token the cluster itself signed for the VM's service account, expired a minute ago.
    service_account = _api(cluster, 'GET', '/api/v1/namespaces/%s/serviceaccounts/catalog-token' % NAMESPACE)
    expired = signed_service_account_token(cluster, service_account, ['istio-ca'], -60)
    assert not token_review(cluster, expired).get('authenticated')
    with open(token_path, 'w', encoding='utf-8') as handle:
        handle.write(expired)

    result = run_playbook(play(cluster, **catalog('catalog-token', bundle_dir)), diff=True)
    task = result.task('Add the VM')
    assert result.changed() == 1 and task['changed_files'] == ['istio-token']
    assert 'expired' in task['token_reissue_reason']
    assert all(obj['action'] == 'none' for obj in task['objects'])
    with open(token_path, encoding='utf-8') as handle:
        fresh = handle.read()
    assert token_review(cluster, fresh)['authenticated']
    assert fresh not in json.dumps(result.report)

    # A 1 h token with less than renew_before left is reissued too; with more left it is kept.
    renew = run_playbook(play(cluster, **catalog('catalog-token', bundle_dir, token_renew_before=3599)))
    assert 'renew window' in renew.task('Add the VM')['token_reissue_reason']
    assert run_playbook(play(cluster, **catalog('catalog-token', bundle_dir))).changed() == 0


def test_revisioned_control_plane_is_named_in_the_bundle(cluster, run_playbook, bundle_dir):
    cluster.install_istio('--revision', 'canary', '--set', 'profile=minimal',
                          '--set', 'values.global.multiCluster.clusterName=west')
    run_playbook(play(cluster, **catalog('catalog-canary', bundle_dir, revision='canary')))
    files = read_bundle(bundle_dir)
    gateway_ip = cluster.kubectl.get('service', 'istio-eastwestgateway', 'istio-system')['status']['loadBalancer']['ingress'][0]['ip']
    assert files['hosts'] == '%s istiod-canary.istio-system.svc\n' % gateway_ip
    assert "CA_ADDR='istiod-canary.istio-system.svc:15012'\n" in files['cluster.env']
    assert yaml.safe_load(files['mesh.yaml'])['defaultConfig']['discoveryAddress'] == 'istiod-canary.istio-system.svc:15012'
    assert run_playbook(play(cluster, **catalog('catalog-canary', bundle_dir, revision='canary'))).changed() == 0


def test_switching_modes_leaves_only_the_current_modes_objects(cluster, run_playbook, bundle_dir):
    kubectl = cluster.kubectl
    run_playbook(play(cluster, **catalog('catalog-switch', bundle_dir, auto_register=False)))
    legacy = run_playbook(play(cluster, **catalog('catalog-switch', bundle_dir, mode='legacy'))).task('Add the VM')
    assert {('WorkloadGroup', 'delete'), ('WorkloadEntry', 'delete'), ('ServiceEntry', 'create')} <= \
        set((o['kind'], o['action']) for o in legacy['objects'])
    assert kubectl.missing('workloadgroups.networking.istio.io', 'catalog-switch')
    assert kubectl.missing('workloadentries.networking.istio.io', 'catalog-switch-10-168-0-20')
    # An empty selector, like none, leaves the Service's endpoints to someone else (here, the ServiceEntry).
    assert not kubectl.get('service', 'catalog-switch')['spec'].get('selector')
    run_playbook(play(cluster, **catalog('catalog-switch', bundle_dir)))
    assert kubectl.missing('serviceentries.networking.istio.io', 'mesh-expansion-catalog-switch')
    assert kubectl.get('service', 'catalog-switch')['spec']['selector'] == {'app': 'catalog-switch', 'version': 'v1'}
    kubectl.get('workloadgroups.networking.istio.io', 'catalog-switch')


def test_state_absent_removes_objects_and_bundle(cluster, run_playbook, bundle_dir):
    run_playbook(play(cluster, **catalog('catalog-gone', bundle_dir, auto_register=False)))
    absent = {'name': 'catalog-gone', 'bundle_dir': bundle_dir, 'state': 'absent'}
    result = run_playbook(play(cluster, **absent))
    assert result.changed() == 1
    for kind, name in (('workloadgroups.networking.istio.io', 'catalog-gone'), ('service', 'catalog-gone'),
                       ('serviceaccount', 'catalog-gone'), ('workloadentries.networking.istio.io', 'catalog-gone-10-168-0-20')):
        assert cluster.kubectl.missing(kind, name), (kind, name)
    assert not os.path.exists(bundle_dir)
    assert run_playbook(play(cluster, **absent)).changed() == 0


@pytest.mark.parametrize('overrides, message', [
    ({'namespace': 'nowhere'}, "namespace 'nowhere' does not exist"),
    ({'ports': [{'number': 3550, 'protocol': 'grpc', 'name': 'http-3550'}]}, 'must be "grpc" or start with "grpc-"'),
    ({'ports': [{'number': 70000, 'protocol': 'grpc'}]}, 'outside 1-65535'),
    ({'service_account': 'Not_Valid'}, 'service_account'),
    ({'gateway_service': 'no-such-gateway'}, 'Service istio-system/no-such-gateway does not exist.*istiod_address'),
    ({'auto_register': False, 'address': None}, 'address .*required when auto_register is false'),
    ({'services': [{'name': 'catalog-bad', 'ports': [3551]}]}, "services: Service 'catalog-bad' lists port 3551, which is not in ports"),
    ({'mode': 'legacy', 'services': [{'name': 'catalog-bad', 'ports': [3550]}, {'name': 'catalog-bad-too', 'ports': [3550]}]},
     'services lists 2 Services, but mode legacy makes one'),
])
def test_bad_input_is_refused_before_any_change(cluster, run_playbook, bundle_dir, overrides, message):
    args = catalog('catalog-bad', bundle_dir)
    args.update(overrides)
    args = dict((key, value) for key, value in args.items() if value is not None)
    result = run_playbook(play(cluster, **args), expect_failure=True)
    assert re.search(message, result.task('Add the VM')['msg']), result.task('Add the VM')['msg']
    assert cluster.kubectl.missing('service', 'catalog-bad') and cluster.kubectl.missing('serviceaccount', 'catalog-bad')
    assert not os.path.exists(bundle_dir)


def boutique(bundle_dir, services):
    """One VM serving two Online Boutique services on its two ports."""
    return {'name': 'boutique-vm', 'labels': {'app': 'boutique-vm'}, 'bundle_dir': bundle_dir, 'services': services,
            'ports': [{'number': 3550, 'protocol': 'grpc'}, {'number': 7000, 'protocol': 'grpc'}]}


CATALOG_SERVICE = {'name': 'productcatalogservice', 'ports': [3550]}
CURRENCY_SERVICE = {'name': 'currencyservice', 'ports': [7000]}


def test_two_services_on_one_group_and_dropping_one_deletes_exactly_it(cluster, run_playbook, bundle_dir, tmp_path):
    kubectl = cluster.kubectl
    neighbour = catalog('catalog-neighbour', str(tmp_path / 'neighbour'), services=[{'name': 'neighbour-grpc', 'ports': [3550]}])
    run_playbook(play(cluster, **neighbour))
    neighbour_service = kubectl.get('service', 'neighbour-grpc')
    assert neighbour_service['metadata']['annotations']['meshbridge.io/workload-group'] == 'catalog-neighbour'

    both = boutique(bundle_dir, [CATALOG_SERVICE, CURRENCY_SERVICE])
    added = run_playbook(play(cluster, **both)).task('Add the VM')
    assert added['changed'] and added['services'] == ['productcatalogservice', 'currencyservice']
    for name, port in (('productcatalogservice', 3550), ('currencyservice', 7000)):
        service = kubectl.get('service', name)
        assert service['spec']['selector'] == {'app': 'boutique-vm'}
        assert [(p['name'], p['port'], p['targetPort'], p['protocol']) for p in service['spec']['ports']] == [
            ('grpc-%d' % port, port, port, 'TCP')]
        assert service['metadata']['annotations']['meshbridge.io/workload-group'] == 'boutique-vm'
    assert kubectl.missing('service', 'boutique-vm')
    group = kubectl.get('workloadgroups.networking.istio.io', 'boutique-vm')
    assert group['spec']['template']['ports'] == {'grpc-3550': 3550, 'grpc-7000': 7000}
    assert run_playbook(play(cluster, **both)).changed() == 0
    versions = dict((name, kubectl.get('service', name)['metadata']['resourceVersion'])
                    for name in ('productcatalogservice', 'currencyservice', 'neighbour-grpc'))

    bad_port = boutique(bundle_dir, [CATALOG_SERVICE, {'name': 'currencyservice', 'ports': [7001]}])
    refused = run_playbook(play(cluster, **bad_port), expect_failure=True).task('Add the VM')
    assert "services: Service 'currencyservice' lists port 7001, which is not in ports" in refused['msg']
    assert dict((name, kubectl.get('service', name)['metadata']['resourceVersion']) for name in versions) == versions

    dropped = boutique(bundle_dir, [CATALOG_SERVICE])
    predicted = run_playbook(play(cluster, **dropped), check=True, diff=True).task('Add the VM')
    assert predicted['changed'] and kubectl.get('service', 'currencyservice')
    assert [d['before_header'] for d in predicted['diff'] if d['after'] == ''] == ['Service %s/currencyservice (v1)' % NAMESPACE]

    result = run_playbook(play(cluster, **dropped))
    changed_objects = [(o['kind'], o['name'], o['action']) for o in result.task('Add the VM')['objects'] if o['action'] != 'none']
    assert changed_objects == [('Service', 'currencyservice', 'delete')]
    assert kubectl.missing('service', 'currencyservice')
    for name in ('productcatalogservice', 'neighbour-grpc'):
        assert kubectl.get('service', name)['metadata']['resourceVersion'] == versions[name], name
    assert run_playbook(play(cluster, **dropped)).changed() == 0

    gone = run_playbook(play(cluster, name='boutique-vm', bundle_dir=bundle_dir, state='absent')).task('Add the VM')
    assert ('Service', 'productcatalogservice') in [(o['kind'], o['name']) for o in gone['objects']]
    assert kubectl.missing('service', 'productcatalogservice')
    assert kubectl.get('service', 'neighbour-grpc')['metadata']['resourceVersion'] == versions['neighbour-grpc']


def test_a_service_name_taken_by_another_group_or_tool_is_refused(cluster, run_playbook, bundle_dir, tmp_path):
    kubectl = cluster.kubectl
    # As another tool would make it: no managed-by label.
    foreign_service = {'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': 'catalog-foreign', 'namespace': NAMESPACE},
                       'spec': {'selector': {'app': 'elsewhere'}, 'ports': [{'name': 'grpc', 'port': 3550}]}}
    kubectl.run('apply', '-f', '-', stdin=json.dumps(foreign_service))
    foreign = catalog('catalog-taker', bundle_dir, services=[{'name': 'catalog-foreign', 'ports': [3550]}])
    refused = run_playbook(play(cluster, **foreign), expect_failure=True).task('Add the VM')
    assert 'Service %s/catalog-foreign (v1) exists and was not made by meshbridge.istio_vm' % NAMESPACE in refused['msg']
    untouched = kubectl.get('service', 'catalog-foreign')
    assert 'app.kubernetes.io/managed-by' not in (untouched['metadata'].get('labels') or {})
    assert untouched['spec']['selector'] == {'app': 'elsewhere'}

    run_playbook(play(cluster, **catalog('catalog-owner', str(tmp_path / 'owner'))))
    taken = catalog('catalog-taker', bundle_dir, services=[{'name': 'catalog-owner', 'ports': [3550]}])
    refused = run_playbook(play(cluster, **taken), expect_failure=True).task('Add the VM')
    assert "Service %s/catalog-owner (v1) belongs to workload group 'catalog-owner'" % NAMESPACE in refused['msg']
    assert kubectl.missing('workloadgroups.networking.istio.io', 'catalog-taker') and not os.path.exists(bundle_dir)
    assert kubectl.get('service', 'catalog-owner')['spec']['selector'] == {'app': 'catalog-owner', 'version': 'v1'}


def test_without_istio_the_module_says_to_install_it(tmp_path, run_playbook):
    with running_control_plane(tmp_path / 'bare') as bare:
        home = tmp_path / 'home'
        home.mkdir()
        Kubectl(bare.kubeconfig, home).run('apply', '-f', '-', stdin=NAMESPACE_YAML)
        result = run_playbook(play(bare, **catalog('catalog', str(tmp_path / 'bundle'))), expect_failure=True)
    assert 'run meshbridge.istio_vm.istio_install first' in result.task('Add the VM')['msg']
    assert not (tmp_path / 'bundle').exists()


def test_an_unusable_bundle_dir_is_a_message_naming_it(cluster, run_playbook, tmp_path):
    """bundle_dir below a regular file: the OS refuses it (as it refuses one without write permission), and the
    module says which directory and what to do, before any object is made."""
    (tmp_path / 'not-a-directory').write_text('')
    bundle_dir = str(tmp_path / 'not-a-directory' / 'bundle')
    result = run_playbook(play(cluster, **catalog('catalog-nodir', bundle_dir)), expect_failure=True)
    failed = result.task('Add the VM')
    assert 'MODULE FAILURE' not in failed['msg'], failed
    assert 'bundle_dir %s' % bundle_dir in failed['msg'] and 'Not a directory' in failed['msg'], failed['msg']
    assert 'choose another bundle_dir' in failed['msg']
    assert cluster.kubectl.missing('serviceaccount', 'catalog-nodir')


def test_a_static_entry_for_an_ipv6_address_ending_in_double_colon(cluster, run_playbook, bundle_dir):
    """fd00:10:168:: written with dashes ends in '-', which the API refuses as a name (after the ServiceAccount,
    WorkloadGroup and Service were made); the entry's name drops the trailing dashes."""
    args = catalog('catalog-v6', bundle_dir, auto_register=False, address='FD00:10:168::')
    run_playbook(play(cluster, **args))
    entry = cluster.kubectl.get('workloadentries.networking.istio.io', 'catalog-v6-fd00-10-168')
    assert entry['spec']['address'] == 'FD00:10:168::'
    assert run_playbook(play(cluster, **args)).changed() == 0
