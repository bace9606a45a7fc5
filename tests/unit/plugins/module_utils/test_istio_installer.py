"""module_utils/istio_installer.py: what counts as a change, the diff, istioctl's connection flags."""

import json
import os
import stat
import time

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import istio_installer as inst

from .fake_clock import FakeClock

OBSERVED = {'installed': True, 'version': '1.24.2', 'revision': '', 'mesh_id': 'mesh1', 'trust_domain': 'cluster.local',
            'cluster_name': 'west', 'network': 'net1', 'eastwest_gateway': True, 'istiod_exposed': True,
            'install_digest': 'abc'}


def test_nothing_installed_is_a_change():
    assert inst.IstioInstaller.differs(None, dict(OBSERVED))


def test_same_settings_are_no_change_and_unset_options_are_not_compared():
    assert not inst.IstioInstaller.differs(OBSERVED, dict(OBSERVED))
    assert not inst.IstioInstaller.differs(OBSERVED, dict(OBSERVED, trust_domain=None, network=None))


def test_any_compared_setting_is_a_change():
    for key, value in (('version', '1.24.3'), ('mesh_id', 'mesh2'), ('istiod_exposed', False),
                       ('install_digest', 'def')):
        assert inst.IstioInstaller.differs(OBSERVED, dict(OBSERVED, **{key: value})), key


def test_diff_shows_unset_options_as_the_cluster_has_them():
    view = inst.IstioInstaller.diff_view(OBSERVED, dict(OBSERVED, mesh_id='mesh2', network=None))
    assert view['before']['mesh_id'] == 'mesh1' and view['after']['mesh_id'] == 'mesh2'
    assert view['after']['network'] == 'net1'
    assert inst.IstioInstaller.diff_view(None, OBSERVED)['before'] == {'installed': False}


def test_live_objects_may_carry_server_defaults():
    wanted = {'servers': [{'port': {'number': 15012}, 'hosts': ['*']}]}
    assert inst._contains({'servers': [{'port': {'number': 15012, 'name': 'x'}, 'hosts': ['*']}]}, wanted)
    assert not inst._contains({'servers': [{'port': {'number': 15017}, 'hosts': ['*']}]}, wanted)
    assert not inst._contains({'servers': []}, wanted)


def test_load_balancer_address():
    assert inst.lb_address({'status': {'loadBalancer': {'ingress': [{'ip': '10.168.8.1'}]}}}) == '10.168.8.1'
    assert inst.lb_address({'status': {'loadBalancer': {}}}) is None
    assert inst.lb_address(None) is None


def test_kubeconfig_and_context_pass_through_to_istioctl(tmp_path):
    assert inst.kubeconfig_args({'kubeconfig': '/k', 'context': 'west'}, str(tmp_path)) == \
        ['--kubeconfig', '/k', '--context', 'west']
    assert inst.kubeconfig_args({}, str(tmp_path)) == []
    assert os.listdir(tmp_path) == []


def test_host_and_token_become_a_private_kubeconfig_for_istioctl(tmp_path):
    args = inst.kubeconfig_args({'host': 'https://127.0.10.1', 'api_key': 'secret', 'ca_cert': '/ca.pem'},
                                str(tmp_path))
    assert args == ['--kubeconfig', str(tmp_path / 'istioctl-kubeconfig')]
    written = tmp_path / 'istioctl-kubeconfig'
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    config = json.loads(written.read_text())
    assert config['clusters'][0]['cluster'] == {'server': 'https://127.0.10.1', 'certificate-authority': '/ca.pem'}
    assert config['users'][0]['user'] == {'token': 'secret'}


def test_istioctl_failure_quotes_its_error():
    def run_command(command):
        assert command[:2] == ['/bin/istioctl', 'install']
        return 1, '', 'some progress\nError: generate config: unknown field "x" in Values\n'
    istioctl = inst.Istioctl('/bin/istioctl', run_command, ['--context', 'west'])
    try:
        istioctl.install('/tmp/iop.json', 60)
    except inst.InstallError as exc:
        assert 'istioctl install failed (exit 1)' in str(exc)
        assert 'unknown field "x" in Values' in str(exc)
    else:
        raise AssertionError('a failing istioctl must raise')


class _Cluster:
    """A cluster where istiod never becomes Available and the east-west gateway gets no address."""

    def get(self, api_version, kind, name, namespace=None):
        if kind == 'Deployment':
            return {'metadata': {'name': name}, 'status': {'conditions': [{'type': 'Available', 'status': 'False'}]}}
        if kind == 'Service':
            return {'metadata': {'name': name}, 'status': {'loadBalancer': {}}}
        return None


def test_wait_ready_backs_off_within_the_timeout_and_names_what_is_not_ready(monkeypatch):
    clock = FakeClock(start=1000.0)
    monkeypatch.setattr(time, 'monotonic', clock)
    monkeypatch.setattr(time, 'sleep', clock.sleep)
    installer = inst.IstioInstaller(_Cluster(), {'revision': '', 'eastwest_gateway': True})
    with pytest.raises(inst.InstallError) as failed:
        installer.wait_ready(20)
    assert 'Istio is not ready after 20 s: Deployment istio-system/istiod is not Available' in str(failed.value)
    assert 'Service istio-system/istio-eastwestgateway has no load balancer address' in str(failed.value)
    assert clock.sleeps[:3] == pytest.approx([0.5, 0.75, 1.125])
    assert sum(clock.sleeps) == pytest.approx(20) and max(clock.sleeps) <= 5


class _Purged:
    """A cluster after istioctl uninstall --purge: nothing of Istio is left but CRDs the API server is still
    deleting, for ``reads_left`` lists."""

    def __init__(self, reads_left):
        self.reads_left = reads_left

    def get(self, api_version, kind, name, namespace=None):
        return None

    def list(self, api_version, kind, namespace=None, label_selector=None):
        assert (api_version, kind) == ('apiextensions.k8s.io/v1', 'CustomResourceDefinition')
        self.reads_left -= 1
        names = ['certificates.cert-manager.io'] + (['workloadgroups.networking.istio.io'] if self.reads_left >= 0 else [])
        return [{'metadata': {'name': name}} for name in names]


def test_a_purge_is_done_once_istios_crds_are_deleted_and_only_istios(monkeypatch):
    clock = FakeClock(start=1000.0)
    monkeypatch.setattr(time, 'monotonic', clock)
    monkeypatch.setattr(time, 'sleep', clock.sleep)
    cluster = _Purged(reads_left=3)
    inst.IstioInstaller(cluster, {'revision': ''}).wait_removed(60)
    assert len(clock.sleeps) == 3

    with pytest.raises(inst.InstallError) as failed:
        inst.IstioInstaller(_Purged(reads_left=1000), {'revision': ''}).wait_removed(10)
    assert 'workloadgroups.networking.istio.io' in str(failed.value) and 'cert-manager' not in str(failed.value)


def test_removing_a_revision_leaves_the_crds_to_the_other_revisions(monkeypatch):
    cluster = _Purged(reads_left=1000)
    inst.IstioInstaller(cluster, {'revision': 'canary'}).wait_removed(10)
    assert cluster.reads_left == 1000


class _Installed:
    """A cluster running istiod with the given image."""

    def __init__(self, image):
        self.image = image

    def get(self, api_version, kind, name, namespace=None):
        if (kind, name) == ('Deployment', 'istiod'):
            return {'metadata': {'name': name, 'labels': {'istio.io/rev': 'default'}},
                    'spec': {'template': {'spec': {'containers': [{'name': 'discovery', 'image': self.image}]}}}}
        return None


@pytest.mark.parametrize('image, version', [
    ('docker.io/istio/pilot:1.24.2', '1.24.2'),
    ('docker.io/istio/pilot:1.24.2-distroless', '1.24.2'),
    ('gcr.io/istio-release/pilot:1.24.2-debug', '1.24.2'),
    ('docker.io/istio/pilot:1.25.0-rc.1-distroless', '1.25.0-rc.1'),
    ('docker.io/istio/pilot:1.25.0-rc.1', '1.25.0-rc.1'),
    ('localhost:5000/istio/pilot:1.24.2-custom', '1.24.2-custom'),
])
def test_the_installed_version_is_the_image_tag_without_its_variant(image, version):
    observed = inst.IstioInstaller(_Installed(image), {'revision': ''}).observe()
    assert observed['version'] == version
