"""The istio_control_plane role through real ansible-playbook against a real control plane (its Deployments become
Available through kube-controller-manager and KWOK), with the lab's istioctl release served from loopback: the
plug-in CA secret checked with openssl, mesh-wide STRICT mTLS with kubectl, idempotence and check mode. The test that
installs gets a cluster of its own; those where nothing may change share one that stays empty."""

import base64
import os
import stat
import subprocess

import pytest

from lab.istio import release
from lab.istio.testing import serving_releases
from lab.kubernetes.testing import running_control_plane
from tests.support.kubectl import Kubectl

VERSION = release.RELEASE
LB_RANGE = '10.168.8.0/24'
ROLE = 'meshbridge.istio_vm.istio_control_plane : '
CACERTS_KEYS = ['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem']

PLAY = '''
- hosts: localhost
  gather_facts: false
  roles:
    - role: meshbridge.istio_vm.istio_control_plane
  post_tasks:
    - name: Show the outputs
      ansible.builtin.debug:
        msg:
          istiod_address: "{{ istio_control_plane_istiod_address }}"
          root_cert: "{{ istio_control_plane_root_cert }}"
          intermediate_dir: "{{ istio_control_plane_intermediate_dir }}"
'''


@pytest.fixture(scope='module')
def release_url(tmp_path_factory):
    with serving_releases(tmp_path_factory.mktemp('releases'), [VERSION]) as url:
        yield url


@pytest.fixture(scope='module')
def empty_cluster(tmp_path_factory):
    """A cluster shared by the tests in which nothing may change: it stays without Istio."""
    with running_control_plane(tmp_path_factory.mktemp('empty-kube'), lb_range=LB_RANGE) as kube:
        yield kube


@pytest.fixture
def cluster(tmp_path, release_url):
    """A cluster of the test's own, to install in."""
    with running_control_plane(tmp_path / 'kube', lb_range=LB_RANGE) as kube:
        yield kube, release_url


@pytest.fixture
def kubectl(cluster, tmp_path):
    home = tmp_path / 'kubectl-home'
    home.mkdir()
    return Kubectl(cluster[0].kubeconfig, home)


@pytest.fixture
def empty_kubectl(empty_cluster, tmp_path):
    """kubectl on the shared empty cluster; checks that it is still empty before the test."""
    home = tmp_path / 'empty-kubectl-home'
    home.mkdir()
    kubectl = Kubectl(empty_cluster.kubeconfig, home)
    assert kubectl.missing('namespace', 'istio-system', 'default'), 'an earlier test left Istio in the shared cluster'
    return kubectl


def _runner(kube, release_url, run_playbook, tmp_path):
    def run(check=False, expect_failure=False, **overrides):
        variables = {
            'istio_control_plane_kubeconfig': kube.kubeconfig, 'istio_control_plane_context': 'lab',
            'istio_control_plane_release_url': release_url, 'istio_control_plane_cache_dir': str(tmp_path / 'cache'),
            'istio_control_plane_ca_dir': str(tmp_path / 'mesh-ca'), 'istio_control_plane_wait_timeout': 60,
            'istio_control_plane_version': VERSION,
            # ECDSA keeps the test fast; the role's default is Istio's RSA 4096.
            'istio_control_plane_ca_key_type': 'ecdsa',
        }
        variables.update(overrides)
        return run_playbook(PLAY, extra_vars=variables, check=check, expect_failure=expect_failure)
    return run


@pytest.fixture
def control_plane(cluster, run_playbook, tmp_path):
    return _runner(cluster[0], cluster[1], run_playbook, tmp_path)


@pytest.fixture
def empty_control_plane(empty_cluster, release_url, run_playbook, tmp_path):
    """The role on the shared empty cluster, for runs that must change nothing."""
    return _runner(empty_cluster, release_url, run_playbook, tmp_path)


def _openssl(*args):
    completed = subprocess.run(['openssl'] + list(args), capture_output=True, text=True, timeout=30, check=False)
    return completed.returncode, completed.stdout + completed.stderr


def test_control_plane_with_plugin_ca_and_strict_mtls(control_plane, kubectl, tmp_path):
    first = control_plane()
    assert first.changed() > 0
    outputs = first.task('Show the outputs')['msg']
    assert outputs['istiod_address'].startswith('10.168.8.')
    assert outputs['intermediate_dir'] == str(tmp_path / 'mesh-ca' / 'west')

    ca_dir = tmp_path / 'mesh-ca'
    for key in (ca_dir / 'root' / 'root-key.pem', ca_dir / 'west' / 'ca-key.pem'):
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(ca_dir).st_mode) == 0o700

    secret = kubectl.get('secret', 'cacerts', 'istio-system')
    assert sorted(secret['data']) == CACERTS_KEYS
    decoded = tmp_path / 'from-secret'
    decoded.mkdir()
    for name, value in secret['data'].items():
        (decoded / name).write_bytes(base64.b64decode(value))
    assert (decoded / 'root-cert.pem').read_bytes() == (ca_dir / 'root' / 'root-cert.pem').read_bytes()
    status, output = _openssl('verify', '-CAfile', str(decoded / 'root-cert.pem'), str(decoded / 'ca-cert.pem'))
    assert status == 0 and 'OK' in output, output
    assert (decoded / 'cert-chain.pem').read_bytes() == \
        (decoded / 'ca-cert.pem').read_bytes() + (decoded / 'root-cert.pem').read_bytes()
    _status, key_public = _openssl('pkey', '-in', str(decoded / 'ca-key.pem'), '-pubout')
    _status, cert_public = _openssl('x509', '-in', str(decoded / 'ca-cert.pem'), '-noout', '-pubkey')
    assert key_public == cert_public and 'PUBLIC KEY' in key_public
    _status, text = _openssl('x509', '-in', str(decoded / 'ca-cert.pem'), '-noout', '-text')
    assert 'CA:TRUE, pathlen:0' in text and 'DNS:istiod.istio-system.svc' in text

    policy = kubectl.get('peerauthentications.security.istio.io', 'default', 'istio-system')
    assert policy['spec'] == {'mtls': {'mode': 'STRICT'}}
    kubectl.get('deploy', 'istiod', 'istio-system')
    kubectl.get('gateways.networking.istio.io', 'istiod-gateway', 'istio-system')

    assert control_plane().changed() == 0

    predicted = control_plane(check=True, istio_control_plane_mtls_mode='PERMISSIVE')
    assert predicted.changed() == 1
    assert predicted.task(ROLE + 'Ensure mesh-wide mutual TLS is PERMISSIVE')['changed'] is True
    assert kubectl.get('peerauthentications.security.istio.io', 'default', 'istio-system')['spec'] == \
        {'mtls': {'mode': 'STRICT'}}, 'check mode changed nothing'

    permissive = control_plane(istio_control_plane_mtls_mode='PERMISSIVE')
    assert permissive.changed() == 1
    assert kubectl.get('peerauthentications.security.istio.io', 'default', 'istio-system')['spec'] == \
        {'mtls': {'mode': 'PERMISSIVE'}}


def test_check_mode_on_a_fresh_cluster_creates_nothing(empty_control_plane, empty_kubectl, tmp_path):
    predicted = empty_control_plane(check=True)
    assert predicted.changed() > 0
    assert predicted.task(ROLE + 'Ensure Istio runs with istiod exposed to VMs, version %s' % VERSION)['changed'] is True
    assert empty_kubectl.missing('namespace', 'istio-system', 'default')
    assert not os.path.exists(tmp_path / 'mesh-ca' / 'root' / 'root-key.pem')


@pytest.mark.parametrize('overrides, message', [
    ({'istio_control_plane_mesh_id': 'Mesh_1'}, 'istio_control_plane_mesh_id: "Mesh_1" has characters other than lowercase letters'),
    ({'istio_control_plane_version': 'latest'}, 'istio_control_plane_version: "latest" is not an Istio release'),
    ({'istio_control_plane_trust_domain': 'Cluster.Local'}, 'istio_control_plane_trust_domain: "Cluster.Local" is not a DNS-1123 subdomain'),
    ({'istio_control_plane_mtls_mode': 'DISABLE'}, 'istio_control_plane_mtls_mode'),
])
def test_bad_settings_are_refused_before_anything_changes(empty_control_plane, empty_kubectl, tmp_path, overrides,
                                                          message):
    failed = empty_control_plane(expect_failure=True, **overrides)
    assert failed.failed() == 1
    assert message in str(failed.report)
    assert not os.path.exists(tmp_path / 'mesh-ca')
    assert empty_kubectl.missing('namespace', 'istio-system', 'default')
