"""meshbridge.istio_vm.istio_install through real ansible-playbook, against a real control plane (kube-apiserver,
kube-controller-manager and KWOK make the Deployments Available, the lab's controller gives LoadBalancer addresses),
with the stand-in istioctl release served from a loopback HTTP server; results checked with the real kubectl.

Tests that install get a cluster each; those where nothing may change share one that stays empty."""

import base64
import json
import os
import re
import shutil
import socket

import pytest

from lab.istio import release
from lab.istio.testing import serving_releases
from lab.kubernetes.testing import running_control_plane
from tests.support.kubectl import Kubectl

VERSION = release.RELEASE
LB_RANGE = '10.168.8.0/24'

PLAY = '''
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Istio
      meshbridge.istio_vm.istio_install: "{{ istio_args }}"
      register: istio
'''


@pytest.fixture(scope='module')
def release_url(tmp_path_factory):
    """The stand-in release of VERSION, served for the module; ``.requests`` lists the paths asked for."""
    with serving_releases(tmp_path_factory.mktemp('releases'), [VERSION]) as url:
        yield url


@pytest.fixture(scope='module')
def empty_cluster(tmp_path_factory):
    """A cluster shared by the tests in which nothing may change: it stays without Istio."""
    with running_control_plane(tmp_path_factory.mktemp('empty-kube'), lb_range=LB_RANGE) as kube:
        yield kube


@pytest.fixture
def lab(tmp_path, release_url):
    """A cluster of the test's own, to install in, and the release URL."""
    with running_control_plane(tmp_path / 'kube', lb_range=LB_RANGE) as kube:
        yield kube, release_url


def _kubectl(kube, tmp_path, name):
    home = tmp_path / name
    home.mkdir()
    return Kubectl(kube.kubeconfig, home).run


@pytest.fixture
def kubectl(lab, tmp_path):
    """``kubectl(*args, check=True)``: the real kubectl on the test's cluster; fails the test when it fails, unless
    ``check=False``."""
    return _kubectl(lab[0], tmp_path, 'kubectl-home')


@pytest.fixture
def empty_kubectl(empty_cluster, tmp_path):
    """kubectl on the shared empty cluster; checks that it is still empty before the test."""
    run = _kubectl(empty_cluster, tmp_path, 'empty-kubectl-home')
    assert run('get', 'crd', '-o', 'name').stdout.strip() == '', 'an earlier test left Istio in the shared cluster'
    assert run('get', 'namespace', 'istio-system', check=False).returncode != 0
    return run


def _runner(kube, release_url, run_playbook, tmp_path):
    def run(check=False, diff=False, expect_failure=False, **options):
        args = {'version': VERSION, 'kubeconfig': kube.kubeconfig, 'context': 'lab', 'release_url': release_url,
                'cache_dir': str(tmp_path / 'cache'), 'mesh_id': 'mesh1', 'cluster_name': 'west',
                'network': 'west-network', 'wait_timeout': 60}
        args.update(options)
        result = run_playbook(PLAY, extra_vars={'istio_args': args}, check=check, diff=diff,
                              expect_failure=expect_failure)
        return result.task('Istio')
    return run


@pytest.fixture
def istio(lab, run_playbook, tmp_path):
    return _runner(lab[0], lab[1], run_playbook, tmp_path)


@pytest.fixture
def empty_istio(empty_cluster, release_url, run_playbook, tmp_path):
    """istio_install on the shared empty cluster, for runs that must change nothing."""
    return _runner(empty_cluster, release_url, run_playbook, tmp_path)


def _mesh(kubectl):
    return json.loads(kubectl('-n', 'istio-system', 'get', 'cm', 'istio', '-o', 'json').stdout)['data']['mesh']


def test_install_is_idempotent_changes_with_diff_and_uninstalls(istio, kubectl, lab):
    first = istio()
    assert first['changed'] is True
    assert first['version'] == VERSION and first['revision'] == ''
    assert (first['mesh_id'], first['cluster_name'], first['network'], first['trust_domain']) == \
        ('mesh1', 'west', 'west-network', 'cluster.local')
    assert first['istiod_address'].startswith('10.168.8.')
    assert first['istioctl'].endswith('/cache/%s/istioctl' % VERSION)

    crds = kubectl('get', 'crd', '-o', 'name').stdout
    assert 'workloadgroups.networking.istio.io' in crds and 'peerauthentications.security.istio.io' in crds
    kubectl('-n', 'istio-system', 'get', 'deploy/istiod', 'deploy/istio-eastwestgateway', 'svc/istiod',
            'svc/istio-ingressgateway')
    eastwest_ip = kubectl('-n', 'istio-system', 'get', 'svc', 'istio-eastwestgateway', '-o',
                          'jsonpath={.status.loadBalancer.ingress[0].ip}').stdout
    assert eastwest_ip == first['istiod_address']
    gateway = json.loads(kubectl('-n', 'istio-system', 'get', 'gateways.networking.istio.io', 'istiod-gateway',
                                 '-o', 'json').stdout)
    assert [s['port']['number'] for s in gateway['spec']['servers']] == [15012, 15017]
    kubectl('-n', 'istio-system', 'get', 'virtualservices.networking.istio.io', 'istiod-vs')
    requests_after_first = len(lab[1].requests)

    second = istio()
    assert second['changed'] is False
    assert second['istiod_address'] == first['istiod_address']
    assert len(lab[1].requests) == requests_after_first, 'istioctl comes from the cache'

    predicted = istio(check=True, diff=True, mesh_id='mesh2')
    assert predicted['changed'] is True
    assert predicted['diff']['before']['mesh_id'] == 'mesh1' and predicted['diff']['after']['mesh_id'] == 'mesh2'
    assert 'meshId: mesh1' in _mesh(kubectl), 'check mode changed nothing'

    changed = istio(diff=True, mesh_id='mesh2')
    assert changed['changed'] is True and changed['mesh_id'] == 'mesh2'
    assert changed['diff']['before']['mesh_id'] == 'mesh1' and changed['diff']['after']['mesh_id'] == 'mesh2'
    assert 'meshId: mesh2' in _mesh(kubectl)
    assert istio(mesh_id='mesh2')['changed'] is False

    values_changed = istio(mesh_id='mesh2', values={'pilot': {'env': {'PILOT_PUSH_THROTTLE': '50'}}})
    assert values_changed['changed'] is True
    env = json.loads(kubectl('-n', 'istio-system', 'get', 'deploy', 'istiod', '-o',
                             'jsonpath={.spec.template.spec.containers[0].env}').stdout)
    assert {'name': 'PILOT_PUSH_THROTTLE', 'value': '50'} in env

    check_absent = istio(check=True, state='absent')
    assert check_absent['changed'] is True
    kubectl('-n', 'istio-system', 'get', 'deploy/istiod')

    removed = istio(state='absent', diff=True)
    assert removed['changed'] is True and removed['diff']['after'] == {'installed': False}
    assert kubectl('get', 'crd', '-o', 'name').stdout.strip() == ''
    assert kubectl('-n', 'istio-system', 'get', 'deploy/istiod', check=False).returncode != 0
    assert kubectl('-n', 'istio-system', 'get', 'svc/istio-eastwestgateway', check=False).returncode != 0
    assert istio(state='absent')['changed'] is False


def test_revision_install_routes_istiod_exposure_to_the_revision(istio, kubectl, lab):
    kube = lab[0]
    # host/api_key/ca_cert instead of a kubeconfig: istioctl gets a kubeconfig written for it.
    connection = {'kubeconfig': None, 'context': None, 'host': kube.url, 'api_key': kube.token,
                  'ca_cert': kube.ca_path}
    predicted = istio(check=True, revision='canary', profile='minimal', **connection)
    assert predicted['changed'] is True and predicted['revision'] == 'canary'
    assert kubectl('get', 'namespace', 'istio-system', check=False).returncode != 0, 'check mode created nothing'

    result = istio(revision='canary', profile='minimal', **connection)
    assert result['changed'] is True and result['revision'] == 'canary'
    kubectl('-n', 'istio-system', 'get', 'deploy/istiod-canary', 'cm/istio-canary')
    host = kubectl('-n', 'istio-system', 'get', 'virtualservices.networking.istio.io', 'istiod-vs', '-o',
                   'jsonpath={.spec.tls[0].route[0].destination.host}').stdout
    assert host == 'istiod-canary.istio-system.svc.cluster.local'
    assert kubectl('-n', 'istio-system', 'get', 'svc/istio-ingressgateway', check=False).returncode != 0
    assert istio(revision='canary', profile='minimal', **connection)['changed'] is False


def _closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize('options, message', [
    ({'version': 'v1.24'}, "version 'v1.24' is not an Istio release version"),
    ({'version': '1.99.0'}, r'Istio 1.99.0 has no release at http://127.0.0.1:\d+/1.99.0/istio-1.99.0-linux-amd64'
                            r'.tar.gz \(HTTP 404'),
    ({'mesh_id': 'Mesh_One'}, "mesh_id 'Mesh_One' is not a DNS-1123 label"),
    ({'network': 'west.network'}, "network 'west.network' is not a DNS-1123 label"),
    ({'cluster_name': 'West'}, "cluster_name 'West' is not a DNS-1123 label"),
    ({'values': {'global': {'meshID': 'm'}}}, 'set mesh_id instead'),
    ({'profile': 'nonsense'}, "profile 'nonsense' is not an Istio profile"),
    ({'values': {'notAValuesSection': {}}}, r'^istioctl install failed \(exit 1\): Error: generate config: could not '
                                            r'unmarshal: .*unknown field "notAValuesSection" in '
                                            r'istio.operator.v1alpha1.Values$'),
    ({'kubeconfig': None, 'context': None, 'host': 'https://127.0.0.1:%d' % _closed_port(), 'api_key': 'x'},
     'cannot reach the Kubernetes API at https://127.0.0.1:'),
    ({'cache_dir': '/dev/null/istio'}, r'cache_dir /dev/null/istio: cannot keep istioctl %s there: .*Not a '
                                       r'directory.*set cache_dir to a directory' % re.escape(VERSION)),
])
def test_bad_input_is_refused_before_anything_changes(empty_istio, empty_kubectl, options, message):
    failed = empty_istio(expect_failure=True, **options)
    assert failed.get('failed') is True
    assert re.search(message, failed['msg']), failed['msg']
    assert empty_kubectl('get', 'crd', '-o', 'name').stdout.strip() == ''
    assert empty_kubectl('get', 'namespace', 'istio-system', check=False).returncode != 0


def test_checksum_mismatch_is_refused(empty_istio, empty_kubectl, tmp_path):
    with serving_releases(tmp_path / 'releases', [VERSION]) as release_url:
        published = tmp_path / 'releases' / VERSION / ('istio-%s-linux-amd64.tar.gz.sha256' % VERSION)
        published.write_text('%s  istio-%s-linux-amd64.tar.gz\n' % ('0' * 64, VERSION))
        failed = empty_istio(expect_failure=True, release_url=release_url)
    assert 'checksum mismatch' in failed['msg'] and 'refusing to use it' in failed['msg']
    assert not os.path.exists(tmp_path / 'cache' / VERSION / 'istioctl')
    assert empty_kubectl('get', 'crd', '-o', 'name').stdout.strip() == ''


def test_a_version_change_runs_istioctl_and_istioctl_path_must_match_it(run_playbook, lab, tmp_path):
    # The lab builds one Istio release (lab/tools/istio-release), so an upgrade between two real releases is not
    # tried here; what is: a change of version must run istioctl, so istioctl_path's version is checked (a run that
    # changes nothing does not run istioctl at all), and a mismatch is refused before the cluster changes.
    kube, release_url = lab
    args = {'version': VERSION, 'kubeconfig': kube.kubeconfig, 'context': 'lab', 'release_url': release_url,
            'cache_dir': str(tmp_path / 'cache2'), 'mesh_id': 'mesh1', 'wait_timeout': 60}
    first = run_playbook(PLAY, extra_vars={'istio_args': args}).task('Istio')
    newer = '%s.%d' % (VERSION.rsplit('.', 1)[0], int(VERSION.rsplit('.', 1)[1]) + 1)
    mismatched = run_playbook(PLAY, expect_failure=True, extra_vars={'istio_args': dict(
        args, version=newer, istioctl_path=first['istioctl'])}).task('Istio')
    assert first['version'] == VERSION
    assert 'is istioctl %s, but version %s was asked' % (VERSION, newer) in mismatched['msg']


def test_wait_is_bounded_and_names_what_is_not_ready(run_playbook, release_url, tmp_path):
    # No nodes: no pod is ever scheduled, so no Deployment becomes Available.
    with running_control_plane(tmp_path / 'slow-kube', lb_range=LB_RANGE, nodes=()) as kube:
        args = {'version': VERSION, 'kubeconfig': kube.kubeconfig, 'context': 'lab',
                'release_url': release_url, 'cache_dir': str(tmp_path / 'cache'), 'wait_timeout': 3}
        failed = run_playbook(PLAY, expect_failure=True, extra_vars={'istio_args': args}).task('Istio')
    assert 'resources not ready after 3s' in failed['msg']
    assert 'Deployment/istio-system/istiod' in failed['msg']


def test_check_mode_refuses_what_install_would_refuse(empty_istio, empty_kubectl):
    failed = empty_istio(check=True, expect_failure=True, values={'pilot': {'notAPilotValue': 1}})
    assert 'istioctl manifest generate failed (exit 1)' in failed['msg']
    assert 'unknown field "notAPilotValue" in istio.operator.v1alpha1.PilotConfig' in failed['msg']
    assert empty_kubectl('get', 'namespace', 'istio-system', check=False).returncode != 0


GROUP_PLAY = '''
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/meshbridge.istio_vm.istio_vm:
      kubeconfig: "{{ kubeconfig }}"
      context: lab
  tasks:
    - name: Root CA
      meshbridge.istio_vm.cert_issue:
        kind: root
        dest: "{{ ca_dir }}"
    - name: Context
      meshbridge.istio_vm.kubeconfig_entry:
        path: "{{ other_kubeconfig }}"
        context: west
        cluster_name: west
        server: https://127.0.10.1
        certificate_authority_data: "{{ ca_data }}"
    - name: Istio
      meshbridge.istio_vm.istio_install:
        version: "{{ version }}"
        state: absent
        release_url: "{{ release_url }}"
        cache_dir: "{{ cache_dir }}"
'''


@pytest.mark.usefixtures('empty_kubectl')
def test_the_group_sets_the_connection_of_its_members_and_no_other_module(run_playbook, empty_cluster, release_url,
                                                                          tmp_path):
    """The group's defaults reach every member: cert_issue and kubeconfig_entry, which have no kubeconfig
    option, must not be members, and istio_install must get kubeconfig and context from it."""
    kube = empty_cluster
    with open(kube.ca_path, 'rb') as handle:
        ca_data = base64.b64encode(handle.read()).decode()
    result = run_playbook(GROUP_PLAY, extra_vars={
        'kubeconfig': kube.kubeconfig, 'ca_dir': str(tmp_path / 'ca'), 'other_kubeconfig': str(tmp_path / 'other'),
        'ca_data': ca_data, 'version': VERSION, 'release_url': release_url, 'cache_dir': str(tmp_path / 'cache')})
    assert result.task('Root CA')['changed'] is True
    assert result.task('Context')['changed'] is True
    istio = result.task('Istio')
    assert istio['changed'] is False and istio['revision'] == ''


def test_a_run_that_changes_nothing_neither_downloads_nor_runs_istioctl(istio, lab, tmp_path):
    """istioctl is only obtained when an install, uninstall or (check mode) manifest generate is needed."""
    assert istio()['changed'] is True
    cache = tmp_path / 'cache'
    shutil.rmtree(cache)
    requests = len(lab[1].requests)
    assert istio()['changed'] is False
    assert istio(check=True)['changed'] is False
    assert not cache.exists() and len(lab[1].requests) == requests, 'no istioctl was fetched'
    predicted = istio(check=True, mesh_id='mesh2')
    assert predicted['changed'] is True and cache.exists(), 'check mode runs manifest generate for a change'


def test_a_variant_image_is_the_installed_version(istio, kubectl):
    """values.global.variant makes istiod's image tag <version>-distroless; that is still the version."""
    distroless = {'global': {'variant': 'distroless'}}
    assert istio(values=distroless)['changed'] is True
    image = kubectl('-n', 'istio-system', 'get', 'deploy', 'istiod', '-o',
                    'jsonpath={.spec.template.spec.containers[0].image}').stdout
    assert image == 'docker.io/istio/pilot:%s-distroless' % VERSION
    again = istio(values=distroless)
    assert again['changed'] is False and again['version'] == VERSION
