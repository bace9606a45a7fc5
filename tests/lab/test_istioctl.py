"""The stand-in istioctl from the stand-in release, against the Kubernetes API stand-in: what an install creates,
what istioctl refuses, and uninstall."""

import json
import subprocess
import tarfile
import textwrap

import pytest

from lab.istio import release
from lab.net.commands import wait_for
from tests.support.istio import istio_operator

VERSION = '1.24.2'

VM_OPERATOR = istio_operator(network='net1', autoregistration=True)


@pytest.fixture(scope='module')
def istioctl(tmp_path_factory):
    directory = tmp_path_factory.mktemp('release')
    archive = release.build(str(directory), VERSION)
    with tarfile.open(archive) as tar:
        tar.extractall(directory, filter='data')
    return str(directory / ('istio-%s' % VERSION) / 'bin' / 'istioctl')


@pytest.fixture
def run(istioctl, kube):
    def run_istioctl(*args, expect_rc=0, stdin=''):
        completed = subprocess.run([istioctl] + list(args) + ['--kubeconfig', kube.kubeconfig, '--context', 'lab'],
                                   capture_output=True, text=True, input=stdin, timeout=120, check=False)
        assert completed.returncode == expect_rc, completed.stdout + completed.stderr
        return completed
    return run_istioctl


def _write(tmp_path, text, name='iop.yaml'):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_release_is_laid_out_as_a_real_one_and_reproducible(tmp_path):
    first = release.build(str(tmp_path / 'a'), VERSION)
    second = release.build(str(tmp_path / 'b'), VERSION)
    with tarfile.open(first) as tar:
        names = tar.getnames()
    assert 'istio-1.24.2/bin/istioctl' in names
    assert 'istio-1.24.2/samples/multicluster/gen-eastwest-gateway.sh' in names
    assert 'istio-1.24.2/samples/multicluster/expose-istiod.yaml' in names
    published = open(first + '.sha256', encoding='utf-8').read()
    assert published == open(second + '.sha256', encoding='utf-8').read()
    assert published.endswith('  istio-1.24.2-linux-amd64.tar.gz\n')


def test_client_version_needs_no_cluster(istioctl):
    out = subprocess.run([istioctl, 'version', '--remote=false', '-o', 'json'], capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out)['clientVersion']['version'] == VERSION


def test_install_creates_what_istio_creates(run, kubectl, tmp_path):
    assert 'Istio is not present in the cluster' in run('version').stdout
    out = run('install', '-y', '-f', _write(tmp_path, VM_OPERATOR)).stdout
    assert 'Installation complete' in out

    crds = {c['metadata']['name']: c for c in kubectl.json('get', 'crd')['items']}
    for name in ('workloadgroups.networking.istio.io', 'workloadentries.networking.istio.io',
                 'serviceentries.networking.istio.io', 'gateways.networking.istio.io',
                 'virtualservices.networking.istio.io', 'destinationrules.networking.istio.io',
                 'sidecars.networking.istio.io', 'peerauthentications.security.istio.io',
                 'authorizationpolicies.security.istio.io'):
        served = {v['name'] for v in crds[name]['spec']['versions'] if v['served']}
        assert {'v1', 'v1beta1'} <= served, name
    # Telemetry went from v1alpha1 straight to v1, as in Istio.
    assert {v['name'] for v in crds['telemetries.telemetry.istio.io']['spec']['versions']} == {'v1', 'v1alpha1'}

    istiod = kubectl.json('-n', 'istio-system', 'get', 'deploy', 'istiod')
    assert istiod['spec']['template']['spec']['containers'][0]['image'] == 'docker.io/istio/pilot:1.24.2'
    assert istiod['metadata']['labels']['istio.io/rev'] == 'default'
    mesh = kubectl.json('-n', 'istio-system', 'get', 'cm', 'istio')['data']['mesh']
    assert 'meshId: mesh1' in mesh and 'trustDomain: cluster.local' in mesh
    injector = json.loads(kubectl.json('-n', 'istio-system', 'get', 'cm', 'istio-sidecar-injector')['data']['values'])
    assert injector['global']['network'] == 'net1'
    assert injector['global']['multiCluster']['clusterName'] == 'west'

    eastwest = kubectl.json('-n', 'istio-system', 'get', 'svc', 'istio-eastwestgateway')
    assert eastwest['spec']['type'] == 'LoadBalancer'
    assert eastwest['spec']['selector']['istio'] == 'eastwestgateway'
    assert sorted(p['port'] for p in eastwest['spec']['ports']) == [15012, 15017, 15021, 15443]
    kubectl.run('-n', 'istio-system', 'wait', '--for=jsonpath={.status.loadBalancer.ingress[0].ip}',
                'svc/istio-eastwestgateway', '--timeout=20s')
    ingress = kubectl.json('-n', 'istio-system', 'get', 'svc', 'istio-ingressgateway')
    assert ingress['spec']['type'] == 'LoadBalancer'
    kubectl.run('get', 'mutatingwebhookconfiguration', 'istio-sidecar-injector')
    assert 'control plane version: 1.24.2' in run('version').stdout


def test_installed_crds_enforce_istio_schemas(run, kubectl, tmp_path):
    run('install', '-y', '-f', _write(tmp_path, VM_OPERATOR))
    refused = kubectl.run('apply', '-f', '-', check=False, stdin=textwrap.dedent('''
        apiVersion: networking.istio.io/v1
        kind: WorkloadGroup
        metadata: {name: vm, namespace: default}
        spec:
          metadata: {labels: {app: vm}}
        '''))
    assert refused.returncode != 0
    assert 'spec.template: Required value' in refused.stderr
    kubectl.run('apply', '-f', '-', stdin=textwrap.dedent('''
        apiVersion: networking.istio.io/v1
        kind: WorkloadGroup
        metadata: {name: vm, namespace: default}
        spec:
          metadata: {labels: {app: vm}}
          template: {serviceAccount: vm, network: net1, ports: {grpc: 3550}}
          probe: {httpGet: {port: 3550, path: /ready}, periodSeconds: 5}
        '''))


@pytest.mark.parametrize('spec, message', [
    ('profile: nonsense', 'could not read profile "nonsense"'),
    ('revision: "1.24"', 'invalid revision specified: 1.24'),
    ('notAField: 1', 'unknown field "notAField" in IstioOperatorSpec'),
    ('values: {global: {meshID: [a]}}', 'Values.global.meshID: cannot unmarshal list into a string'),
    ('components: {ingressGateways: [{enabled: true}]}', 'gateway name must be set'),
])
def test_invalid_operator_is_refused_before_the_cluster_changes(run, kubectl, tmp_path, spec, message):
    path = _write(tmp_path, 'apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  %s\n' % spec)
    refused = run('install', '-y', '-f', path, expect_rc=1)
    assert refused.stderr.startswith('Error: ') and message in refused.stderr, refused.stderr
    assert kubectl.json('get', 'crd')['items'] == []
    assert kubectl.run('get', 'namespace', 'istio-system', check=False).returncode != 0


def test_reinstall_prunes_what_the_new_operator_drops(run, kubectl, tmp_path):
    run('install', '-y', '-f', _write(tmp_path, VM_OPERATOR))
    run('install', '-y', '-f', _write(tmp_path, VM_OPERATOR), '--set', 'components.ingressGateways[0].enabled=false')
    assert kubectl.run('-n', 'istio-system', 'get', 'svc', 'istio-eastwestgateway', check=False).returncode != 0
    kubectl.run('-n', 'istio-system', 'get', 'svc', 'istio-ingressgateway')


def test_uninstall_needs_a_scope_and_purge_removes_everything(run, kubectl, tmp_path):
    run('install', '-y', '-f', _write(tmp_path, VM_OPERATOR))
    assert 'at least one of the --revision' in run('uninstall', '-y', expect_rc=1).stderr
    assert 'Uninstall complete' in run('uninstall', '--purge', '-y').stdout
    # A real API server deletes a CRD after its cleanup finalizer has removed the custom resources: bounded wait.
    wait_for(lambda: kubectl.json('get', 'crd')['items'] == [], timeout=60, what="Istio's CRDs gone after --purge")
    assert kubectl.json('-n', 'istio-system', 'get', 'deploy,svc,sa,cm', '-l',
                        'operator.istio.io/component')['items'] == []
