"""The kiali role through real ansible-playbook, against a real control plane (conftest's ``kube``, one a test:
each needs a cluster without Istio's namespace, and the role's ClusterRoles are cluster-wide), read back with the
kubernetes client. KWOK's node runs the pods as Ready with nothing in them: this shows the objects and their
rollout, not a working Kiali."""

import base64
import json

import pytest
import yaml
from kubernetes.dynamic.exceptions import NotFoundError

ROLE = 'meshbridge.istio_vm.kiali : '
PLAY = '''
- name: Kiali
  hosts: localhost
  gather_facts: false
  roles:
    - role: meshbridge.istio_vm.kiali
'''
OBJECTS = [('v1', 'ServiceAccount'), ('v1', 'ConfigMap'), ('v1', 'Service'), ('apps/v1', 'Deployment'),
           ('rbac.authorization.k8s.io/v1', 'ClusterRole'), ('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding')]


@pytest.fixture
def kiali(run_playbook, kube):
    def run(check=False, diff=False, expect_failure=False, **variables):
        extra = {'kiali_kubeconfig': kube.kubeconfig, 'kiali_context': 'lab', 'kiali_wait_timeout': 30}
        extra.update(('kiali_' + key, value) for key, value in variables.items())
        return run_playbook(PLAY, extra_vars=extra, check=check, diff=diff, expect_failure=expect_failure)
    return run


def _get(api, api_version, kind, name, namespace='istio-system'):
    resource = api.resources.get(api_version=api_version, kind=kind)
    try:
        return resource.get(name=name, namespace=namespace if resource.namespaced else None).to_dict()
    except NotFoundError:
        return None


def _istio_namespace(api):
    api.resources.get(api_version='v1', kind='Namespace').create(
        body={'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'istio-system'}})


def _signing_key(api):
    return base64.b64decode(_get(api, 'v1', 'Secret', 'kiali-signing-key')['data']['value.txt']).decode()


def test_installs_with_token_login_idempotently_and_removes(kiali, api):
    _istio_namespace(api)
    first = kiali()
    assert first.changed() > 0
    for app in ('kiali', 'prometheus'):
        for api_version, kind in OBJECTS:
            assert _get(api, api_version, kind, app) is not None, (kind, app)

    server_config = yaml.safe_load(_get(api, 'v1', 'ConfigMap', 'kiali')['data']['config.yaml'])
    assert server_config['auth'] == {'strategy': 'token'}
    assert 'login_token' not in server_config, 'no signing key in the ConfigMap'
    assert server_config['external_services']['prometheus']['url'] == 'http://prometheus.istio-system:9090'
    prometheus_service = _get(api, 'v1', 'Service', 'prometheus')
    assert prometheus_service['spec']['ports'][0]['port'] == 9090
    scrape = yaml.safe_load(_get(api, 'v1', 'ConfigMap', 'prometheus')['data']['prometheus.yml'])
    assert scrape['scrape_configs'][0]['kubernetes_sd_configs'] == [{'role': 'pod'}]

    key = _signing_key(api)
    assert len(key) == 32, 'Kiali accepts 16, 24 or 32 bytes'
    assert key not in json.dumps(first.report), 'the key is never printed'
    deployment = _get(api, 'apps/v1', 'Deployment', 'kiali')
    container = deployment['spec']['template']['spec']['containers'][0]
    assert container['image'] == 'quay.io/kiali/kiali:v2.26.0'
    assert {'name': 'login-token-signing-key', 'mountPath': '/kiali-override-secrets/login-token-signing-key',
            'readOnly': True} in container['volumeMounts']
    assert deployment['status']['availableReplicas'] == 1
    prometheus = _get(api, 'apps/v1', 'Deployment', 'prometheus')
    assert prometheus['spec']['template']['spec']['containers'][0]['image'] == 'docker.io/prom/prometheus:v3.10.0'
    assert prometheus['status']['availableReplicas'] == 1
    binding = _get(api, 'rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', 'kiali')
    assert binding['subjects'] == [{'kind': 'ServiceAccount', 'name': 'kiali', 'namespace': 'istio-system'}]

    assert kiali().changed() == 0
    assert _signing_key(api) == key, 'kept: a new key would log everyone out'

    version = deployment['metadata']['resourceVersion']
    checked = kiali(check=True, diff=True, version='v2.26.1')
    assert checked.changed() == 1
    assert _get(api, 'apps/v1', 'Deployment', 'kiali')['metadata']['resourceVersion'] == version

    assert kiali(state='absent').changed() == 1
    for app in ('kiali', 'prometheus'):
        for api_version, kind in OBJECTS:
            assert _get(api, api_version, kind, app) is None, (kind, app)
    assert _get(api, 'v1', 'Secret', 'kiali-signing-key') is None
    assert kiali(state='absent').changed() == 0


def test_refused_without_istio_and_with_an_unpinned_version(kiali, api):
    missing = kiali(expect_failure=True)
    assert 'Namespace istio-system does not exist: install Istio first' in \
        missing.task(ROLE + "Check Istio's namespace exists")['msg']
    _istio_namespace(api)
    unpinned = kiali(expect_failure=True, version='latest')
    assert 'kiali_version (latest) and kiali_prometheus_version (v3.10.0) must be release tags' in \
        unpinned.task(ROLE + 'Check the versions, namespace and timeout')['msg']
    assert _get(api, 'apps/v1', 'Deployment', 'kiali') is None
    assert _get(api, 'v1', 'Secret', 'kiali-signing-key') is None
    assert unpinned.changed() == 0
