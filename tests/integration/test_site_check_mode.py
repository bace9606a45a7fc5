"""The stage playbooks in check mode on a cluster without Istio yet (a run that stopped before installing it): the
stages that build on Istio say why they cannot be predicted and end, failing nothing and changing nothing."""

import os

import pytest

from lab.istio.release import RELEASE
from lab.kubernetes.testing import running_control_plane

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module')
def kube(tmp_path_factory):
    """One cluster without Istio for the module: a check run changes nothing, so every stage can read the same one."""
    with running_control_plane(tmp_path_factory.mktemp('kube')) as plane:
        yield plane


@pytest.mark.parametrize('stage', ['app', 'mesh', 'verify'])
def test_a_stage_after_the_control_plane_ends_a_check_run_on_a_cluster_without_istio(run_playbook, kube, tmp_path,
                                                                                     stage):
    checked = run_playbook('- ansible.builtin.import_playbook: %s\n' % os.path.join(REPO, 'playbooks', stage + '.yml'),
                           check=True, extra_vars={
                               'gke_cluster_kubeconfig': kube.kubeconfig, 'gke_cluster_context': 'lab',
                               'gke_cluster_name': 'west', 'meshbridge_app_namespace': 'default',
                               'meshbridge_istio_version': RELEASE, 'meshbridge_work_dir': str(tmp_path / 'work'),
                               'meshbridge_verify_storefront': False,
                               'gce_vm_instances': [{'name': 'istio-gce', 'services': [
                                   {'name': 'productcatalogservice', 'port': 3550}]}]})
    assert checked.stats['localhost']['failures'] == 0 and checked.changed() == 0
    said = checked.task('Say why the check stops before this stage')['msg']
    assert said.startswith('Check mode: Istio is not installed in cluster west yet, so what this stage would change '
                           'cannot be predicted')
    assert not (tmp_path / 'work').exists()
