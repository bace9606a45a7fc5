"""A kubeconfig entry is merged next to the user's other clusters, users and contexts, never over them."""

import os
import stat

import yaml

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import kubeconfig

from .ansible_module import real_module

OTHER = {'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'prod',
         'clusters': [{'name': 'prod', 'cluster': {'server': 'https://prod.example'}}],
         'users': [{'name': 'prod', 'user': {'token': 'prod-secret'}}],
         'contexts': [{'name': 'prod', 'context': {'cluster': 'prod', 'user': 'prod'}}]}


def params(**overrides):
    result = dict(state='present', context='west', cluster_name='gke_p_us-west2-a_west', user_name=None,
                  server='https://127.0.10.1', certificate_authority_data='Q0E=', auth='gke_auth_plugin',
                  token=None, namespace=None, set_current=True)
    result.update(overrides)
    return result


def test_entry_is_added_next_to_existing_ones_and_written_0600(tmp_path):
    path = str(tmp_path / 'config')
    with open(path, 'w', encoding='utf-8') as handle:
        yaml.safe_dump(OTHER, handle)
    merged = kubeconfig.merge(kubeconfig.load(path), params())
    kubeconfig.write(real_module(), path, merged)
    written = kubeconfig.load(path)
    assert [c['name'] for c in written['contexts']] == ['prod', 'west']
    assert written['users'][0] == OTHER['users'][0]
    assert written['current-context'] == 'west'
    west_user = written['users'][1]['user']['exec']
    assert west_user['command'] == 'gke-gcloud-auth-plugin' and west_user['provideClusterInfo'] is True
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # Merging again changes nothing.
    assert kubeconfig.merge(written, params()) == written


def test_changed_server_replaces_only_this_cluster():
    merged = kubeconfig.merge(kubeconfig.merge(OTHER, params()), params(server='https://127.0.10.2'))
    assert [c['cluster']['server'] for c in merged['clusters']] == ['https://prod.example', 'https://127.0.10.2']


def test_absent_removes_only_this_entry_and_clears_current_context():
    merged = kubeconfig.merge(OTHER, params())
    removed = kubeconfig.merge(merged, params(state='absent'))
    assert removed['contexts'] == OTHER['contexts'] and removed['current-context'] == ''


def test_token_auth_is_redacted_in_the_view():
    merged = kubeconfig.merge(OTHER, params(auth='token', token='s3cret'))
    view = kubeconfig.entry_view(merged, params())
    assert view['user']['user']['token'] == kubeconfig.REDACTED
    assert 's3cret' not in repr(view)


def test_missing_file_starts_empty(tmp_path):
    assert kubeconfig.load(str(tmp_path / 'nope'))['contexts'] == []


def test_absent_keeps_the_cluster_and_user_that_other_contexts_still_use():
    merged = kubeconfig.merge(OTHER, params())
    # A second context on the same cluster and user, as `kubectl config set-context west-admin ...` makes.
    merged['contexts'].append({'name': 'west-admin', 'context': {'cluster': 'gke_p_us-west2-a_west',
                                                                 'user': 'gke_p_us-west2-a_west', 'namespace': 'x'}})
    removed = kubeconfig.merge(merged, params(state='absent'))
    assert [c['name'] for c in removed['contexts']] == ['prod', 'west-admin']
    assert [c['name'] for c in removed['clusters']] == ['prod', 'gke_p_us-west2-a_west']
    assert [u['name'] for u in removed['users']] == ['prod', 'gke_p_us-west2-a_west']
    # Once the last context using them goes, so do they.
    removed['contexts'] = [c for c in removed['contexts'] if c['name'] != 'west-admin']
    again = kubeconfig.merge(removed, params(state='absent'))
    assert again['clusters'] == OTHER['clusters'] and again['users'] == OTHER['users']


def test_a_symlinked_kubeconfig_is_written_through_the_link(tmp_path):
    real = tmp_path / 'dotfiles' / 'kubeconfig'
    real.parent.mkdir()
    with open(real, 'w', encoding='utf-8') as handle:
        yaml.safe_dump(OTHER, handle)
    link = tmp_path / 'config'
    link.symlink_to(real)
    kubeconfig.write(real_module(), str(link), kubeconfig.merge(kubeconfig.load(str(link)), params()))
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert [c['name'] for c in kubeconfig.load(str(real))['contexts']] == ['prod', 'west']
    assert sorted(os.listdir(real.parent)) == ['kubeconfig']
