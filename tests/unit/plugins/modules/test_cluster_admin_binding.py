"""cluster_admin_binding binds only the account the cluster sees calling, and converges without rewriting."""

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.modules import cluster_admin_binding as module


class FakeClient:
    source = 'kubeconfig /k, context west'

    def __init__(self, caller, binding=None):
        self.caller = caller
        self.binding = binding
        self.applied = []
        self.deleted = []

    def whoami(self):
        return {'username': self.caller, 'groups': ['system:authenticated']}

    def get(self, api_version, kind, name, namespace=None):
        return self.binding

    def apply(self, definition):
        self.applied.append(definition)
        self.binding = dict(definition, metadata=dict(definition['metadata'], uid='u1'))
        return self.binding

    def delete(self, api_version, kind, name, namespace=None):
        self.deleted.append(name)
        return True


def _params(**overrides):
    params = dict(user='someone@example.com', name='user-admin-binding', cluster_role='cluster-admin',
                  check_caller=True, state='present')
    params.update(overrides)
    return params


def test_binds_the_caller_then_changes_nothing():
    client = FakeClient('someone@example.com')
    changed, caller, before, after = module.reconcile(client, _params(), check_mode=False)
    assert changed and caller == 'someone@example.com' and before is None
    assert after['subjects'] == [{'apiGroup': 'rbac.authorization.k8s.io', 'kind': 'User',
                                  'name': 'someone@example.com'}]
    assert module.reconcile(client, _params(), check_mode=False)[0] is False
    assert len(client.applied) == 1


def test_another_caller_is_refused_before_anything_is_written():
    client = FakeClient('other@p.iam.gserviceaccount.com')
    with pytest.raises(module.BindingError) as refused:
        module.reconcile(client, _params(), check_mode=False)
    message = str(refused.value)
    assert 'authenticate to the cluster as other@p.iam.gserviceaccount.com' in message
    assert 'would be bound to someone@example.com' in message
    assert 'kubeconfig /k, context west' in message and 'credentials_file' in message
    assert client.applied == []
    # On purpose, with check_caller off.
    assert module.reconcile(client, _params(check_caller=False), check_mode=False)[0] is True


def test_a_binding_of_another_account_is_predicted_in_check_mode_and_then_taken_over():
    old = module.wanted_binding(_params(user='former@example.com'))
    client = FakeClient('someone@example.com', old)
    changed, _caller, before, after = module.reconcile(client, _params(), check_mode=True)
    assert changed and client.applied == []
    assert module.view(before)['subjects'][0]['name'] == 'former@example.com'
    assert module.view(after)['subjects'][0]['name'] == 'someone@example.com'
    assert module.reconcile(client, _params(), check_mode=False)[0] is True
    assert client.binding['subjects'][0]['name'] == 'someone@example.com'


def test_another_cluster_role_under_the_name_is_refused():
    client = FakeClient('someone@example.com', module.wanted_binding(_params(cluster_role='view')))
    with pytest.raises(module.BindingError) as refused:
        module.reconcile(client, _params(), check_mode=False)
    assert "roleRef cannot change" in str(refused.value)


def test_absent_deletes_without_asking_who_calls():
    client = FakeClient(None, module.wanted_binding(_params()))
    assert module.reconcile(client, _params(state='absent', user=None), check_mode=False)[0] is True
    assert client.deleted == ['user-admin-binding']
