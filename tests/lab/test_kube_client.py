"""The `kubernetes` Python client (DynamicClient and the typed API) against the Kubernetes API stand-in."""

import base64
import copy
import json
import threading

import jwt
import pytest
import requests
from kubernetes import client as k8s
from kubernetes.dynamic.exceptions import ApiException

from kube_crds import WORKLOAD_ENTRY_CRD, WORKLOAD_GROUP_CRD


def _status(exc):
    return exc.status, json.loads(exc.body)


def _namespace(api, name):
    api.resources.get(api_version='v1', kind='Namespace').create({'metadata': {'name': name}})


def _first_event(resource, condition, what, timeout=10, **selectors):
    """The first watch event for which ``condition(event)`` holds; fails the test when the watch ends (the server
    closes it after ``timeout`` seconds) without one."""
    for event in resource.watch(timeout=timeout, **selectors):
        if condition(event):
            return event
    pytest.fail(f'no watch event for {what} within {timeout} s')


def _config_map(name, labels=None, data=None):
    body = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': name}, 'data': data or {'key': 'value'}}
    if labels:
        body['metadata']['labels'] = labels
    return body


def test_create_get_and_list_with_selectors(api):
    _namespace(api, 'apps')
    config_maps = api.resources.get(api_version='v1', kind='ConfigMap')
    created = config_maps.create(_config_map('one', {'tier': 'front'}), namespace='apps')
    config_maps.create(_config_map('two', {'tier': 'back'}), namespace='apps')
    meta = created.metadata
    assert meta.uid and meta.resourceVersion and meta.creationTimestamp
    assert meta.managedFields[0].manager and meta.managedFields[0].operation == 'Update'
    assert config_maps.get(name='one', namespace='apps').data.key == 'value'

    def names(**selectors):
        return sorted(item.metadata.name for item in config_maps.get(namespace='apps', **selectors).items)

    assert names(label_selector='tier=front') == ['one']
    assert names(label_selector='tier in (front,back)') == ['one', 'two']
    assert names(label_selector='tier!=front,tier') == ['two']
    assert names(field_selector='metadata.name=two') == ['two']
    everywhere = config_maps.get(field_selector='metadata.namespace=apps')
    assert len(everywhere.items) == 3  # one, two and the controller's kube-root-ca.crt
    with pytest.raises(ApiException) as refused:
        config_maps.get(namespace='apps', field_selector='data.key=value')
    assert _status(refused.value)[0] == 400


def test_patch_types_and_resource_version_conflict(api):
    _namespace(api, 'apps')
    deployments = api.resources.get(api_version='apps/v1', kind='Deployment')
    body = {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'web'}, 'spec': {
        'selector': {'matchLabels': {'app': 'web'}},
        'template': {'metadata': {'labels': {'app': 'web'}}, 'spec': {'containers': [
            {'name': 'web', 'image': 'nginx:1.27', 'ports': [{'containerPort': 80}],
             'env': [{'name': 'A', 'value': '1'}]},
            {'name': 'sidecar', 'image': 'envoy:1.40'}],
            'volumes': [{'name': 'data', 'emptyDir': {}}]}}}}
    first = deployments.create(body, namespace='apps')
    strategic = {'spec': {'template': {'spec': {
        'containers': [{'name': 'web', 'env': [{'name': 'B', 'value': '2'}], 'ports': [{'containerPort': 8080}]}],
        'volumes': [{'name': 'cache', 'emptyDir': {}}]}}}}
    patched = deployments.patch(name='web', namespace='apps', body=strategic,
                                content_type='application/strategic-merge-patch+json')
    pod = patched.to_dict()['spec']['template']['spec']
    web = pod['containers'][0]
    assert [c['name'] for c in pod['containers']] == ['web', 'sidecar']
    assert [e['name'] for e in web['env']] == ['A', 'B']
    assert [p['containerPort'] for p in web['ports']] == [80, 8080]
    assert [v['name'] for v in pod['volumes']] == ['data', 'cache']

    merged = deployments.patch(name='web', namespace='apps', body={'spec': {'template': {'spec': {
        'containers': [{'name': 'web', 'image': 'nginx:1.28'}]}}}}, content_type='application/merge-patch+json')
    # A merge patch replaces lists whole.
    assert [c['name'] for c in merged.to_dict()['spec']['template']['spec']['containers']] == ['web']
    json_patched = deployments.patch(name='web', namespace='apps', content_type='application/json-patch+json',
                                     body=[{'op': 'replace', 'path': '/spec/replicas', 'value': 4}])
    assert json_patched.spec.replicas == 4 and json_patched.metadata.generation == 4

    stale = copy.deepcopy(first.to_dict())
    with pytest.raises(ApiException) as refused:
        deployments.replace(body=stale, namespace='apps')
    code, status = _status(refused.value)
    assert code == 409 and status['reason'] == 'Conflict'
    assert 'the object has been modified' in status['message']


def test_server_side_apply_owns_fields_and_removes_what_it_stops_applying(api):
    _namespace(api, 'apps')
    config_maps = api.resources.get(api_version='v1', kind='ConfigMap')
    applied = _config_map('settings', data={'a': '1', 'b': '2'})
    created = config_maps.server_side_apply(body=applied, namespace='apps', field_manager='installer')
    owners = {entry.manager: entry for entry in created.metadata.managedFields}
    assert owners['installer'].operation == 'Apply'
    assert owners['installer'].fieldsV1.to_dict() == {'f:data': {'f:a': {}, 'f:b': {}}}

    config_maps.patch(name='settings', namespace='apps', body={'data': {'b': '3'}},
                      content_type='application/merge-patch+json', field_manager='editor')
    with pytest.raises(ApiException) as refused:
        config_maps.server_side_apply(body=applied, namespace='apps', field_manager='installer')
    code, status = _status(refused.value)
    assert code == 409 and status['details']['causes'][0]['field'] == '.data.b'
    assert status['details']['causes'][0]['reason'] == 'FieldManagerConflict'

    # Applying b alone, with editor's value: a goes (only installer owned it), b is now co-owned; applying the
    # same again changes nothing, not even the resourceVersion.
    again = config_maps.server_side_apply(body=_config_map('settings', data={'b': '3'}), namespace='apps',
                                          field_manager='installer')
    assert again.data.to_dict() == {'b': '3'}
    unchanged = config_maps.server_side_apply(body=_config_map('settings', data={'b': '3'}), namespace='apps',
                                              field_manager='installer')
    assert unchanged.metadata.resourceVersion == again.metadata.resourceVersion


def test_dry_run_stores_nothing(api):
    _namespace(api, 'apps')
    config_maps = api.resources.get(api_version='v1', kind='ConfigMap')
    config_maps.create(_config_map('ghost'), namespace='apps', query_params=[('dryRun', 'All')])
    with pytest.raises(ApiException) as refused:
        config_maps.get(name='ghost', namespace='apps')
    code, status = _status(refused.value)
    assert code == 404 and status['reason'] == 'NotFound' and status['message'] == 'configmaps "ghost" not found'
    assert status['details'] == {'name': 'ghost', 'kind': 'configmaps'}


def test_watch_sees_changes(api):
    _namespace(api, 'apps')
    config_maps = api.resources.get(api_version='v1', kind='ConfigMap')
    start = config_maps.get(namespace='apps').metadata.resourceVersion
    seen = []

    def watch():
        for event in config_maps.watch(namespace='apps', resource_version=start, timeout=10,
                                       label_selector='watched=yes'):
            seen.append((event['type'], event['object'].metadata.name))
            if event['type'] == 'DELETED' and event['object'].metadata.labels.watched == 'yes':
                return

    watcher = threading.Thread(target=watch)
    watcher.start()
    config_maps.create(_config_map('unwatched'), namespace='apps')
    config_maps.create(_config_map('w', {'watched': 'yes'}), namespace='apps')
    config_maps.patch(name='w', namespace='apps', body={'data': {'k': 'v'}}, content_type='application/merge-patch+json')
    # Leaving the selector looks like a deletion to the watch, coming back like a creation.
    relabel = 'application/merge-patch+json'
    config_maps.patch(name='w', namespace='apps', body={'metadata': {'labels': {'watched': 'no'}}}, content_type=relabel)
    config_maps.patch(name='unwatched', namespace='apps', body={'data': {'k': 'v'}}, content_type=relabel)
    config_maps.patch(name='w', namespace='apps', body={'metadata': {'labels': {'watched': 'yes'}}}, content_type=relabel)
    config_maps.delete(name='w', namespace='apps')
    watcher.join(timeout=15)
    assert seen == [('ADDED', 'w'), ('MODIFIED', 'w'), ('DELETED', 'w'), ('ADDED', 'w'), ('DELETED', 'w')]


def test_refuses_objects_in_missing_namespaces_and_missing_required_fields(api):
    services = api.resources.get(api_version='v1', kind='Service')
    with pytest.raises(ApiException) as refused:
        services.create({'metadata': {'name': 'web'}, 'spec': {'ports': [{'port': 80}]}}, namespace='nowhere')
    code, status = _status(refused.value)
    assert code == 404 and status['message'] == 'namespaces "nowhere" not found'

    _namespace(api, 'apps')
    with pytest.raises(ApiException) as refused:
        services.create({'metadata': {'name': 'web'}, 'spec': {'ports': [{'name': 'http'}]}}, namespace='apps')
    code, status = _status(refused.value)
    assert code == 422 and status['reason'] == 'Invalid'
    assert {'reason': 'FieldValueRequired', 'message': 'Required value', 'field': 'spec.ports[0].port'} \
        in status['details']['causes']
    with pytest.raises(ApiException) as refused:
        services.create({'metadata': {'name': 'Web_1'}, 'spec': {'ports': [{'port': 80}]}}, namespace='apps')
    assert _status(refused.value)[1]['details']['causes'][0]['field'] == 'metadata.name'
    with pytest.raises(ApiException) as refused:
        services.create({'metadata': {'name': 'web'}, 'spec': {'ports': [{'port': 'eighty'}]}}, namespace='apps')
    code, status = _status(refused.value)
    assert code == 400 and 'cannot unmarshal string' in status['message']


def test_custom_resources_follow_their_crd_schema(api, kube):
    crds = api.resources.get(api_version='apiextensions.k8s.io/v1', kind='CustomResourceDefinition')
    established = crds.create(WORKLOAD_GROUP_CRD)
    assert {c.type: c.status for c in established.status.conditions}['Established'] == 'True'
    crds.create(WORKLOAD_ENTRY_CRD)
    _namespace(api, 'vms')
    groups = api.resources.get(api_version='networking.istio.io/v1', kind='WorkloadGroup')
    assert groups.namespaced and 'wg' in groups.short_names
    group = {'apiVersion': 'networking.istio.io/v1', 'kind': 'WorkloadGroup', 'metadata': {'name': 'catalog'},
             'spec': {'metadata': {'labels': {'app': 'catalog'}},
                      'template': {'serviceAccount': 'catalog', 'network': 'vm-net', 'ports': {'grpc': 3550}},
                      'probe': {'httpGet': {'port': 3550, 'path': '/ready'}},
                      'unknownField': 'dropped'}}
    created = groups.create(group, namespace='vms')
    assert 'unknownField' not in created.spec and created.metadata.generation == 1

    older = api.resources.get(api_version='networking.istio.io/v1beta1', kind='WorkloadGroup')
    assert older.get(name='catalog', namespace='vms').apiVersion == 'networking.istio.io/v1beta1'

    with pytest.raises(ApiException) as refused:
        groups.create(dict(group, metadata={'name': 'strict'}), namespace='vms', query_params=[('fieldValidation', 'Strict')])
    code, status = _status(refused.value)
    assert code == 400 and 'strict decoding error: unknown field "spec.unknownField"' in status['message']

    wrong = copy.deepcopy(group)
    wrong['metadata']['name'] = 'wrong'
    wrong['spec'].pop('unknownField')
    wrong['spec']['template']['ports'] = {'grpc': 'high'}
    wrong['spec']['probe']['httpGet']['scheme'] = 'FTP'
    with pytest.raises(ApiException) as refused:
        groups.create(wrong, namespace='vms')
    code, status = _status(refused.value)
    assert code == 422 and status['reason'] == 'Invalid'
    fields = {cause['field']: cause for cause in status['details']['causes']}
    assert 'must be of type integer' in fields['spec.template.ports.grpc']['message']
    assert fields['spec.probe.httpGet.scheme']['reason'] == 'FieldValueNotSupported'

    both = copy.deepcopy(group)
    both['metadata']['name'] = 'both'
    both['spec']['probe']['tcpSocket'] = {'port': 3550}
    with pytest.raises(ApiException) as refused:
        groups.create(both, namespace='vms')
    assert _status(refused.value)[1]['details']['causes'][0]['message'].endswith(
        'must validate one and only one schema (oneOf)')

    entries = api.resources.get(api_version='networking.istio.io/v1', kind='WorkloadEntry')
    with pytest.raises(ApiException) as refused:
        entries.create({'apiVersion': 'networking.istio.io/v1', 'kind': 'WorkloadEntry', 'metadata': {'name': 'e'},
                        'spec': {'labels': {'app': 'catalog'}}}, namespace='vms')
    assert _status(refused.value)[1]['details']['causes'][0] == {
        'reason': 'FieldValueRequired', 'message': 'Required value', 'field': 'spec.address'}

    with pytest.raises(ApiException) as refused:
        groups.patch(name='catalog', namespace='vms', body={'spec': {'template': {'weight': 2}}},
                     content_type='application/strategic-merge-patch+json')
    assert _status(refused.value)[0] == 415

    crds.delete(name='workloadgroups.networking.istio.io')
    listing = requests.get(kube.url + '/apis/networking.istio.io/v1', timeout=10, verify=kube.ca_path,
                           headers={'Authorization': 'Bearer ' + kube.token})
    assert [r['kind'] for r in listing.json()['resources'] if '/' not in r['name']] == ['WorkloadEntry']


def test_namespaced_deletion_and_owner_garbage_collection(api):
    _namespace(api, 'apps')
    config_maps = api.resources.get(api_version='v1', kind='ConfigMap')
    owner = config_maps.create(_config_map('owner'), namespace='apps')
    dependent = _config_map('dependent')
    dependent['metadata']['ownerReferences'] = [{'apiVersion': 'v1', 'kind': 'ConfigMap', 'name': 'owner',
                                                 'uid': owner.metadata.uid}]
    config_maps.create(dependent, namespace='apps')
    config_maps.delete(name='owner', namespace='apps')
    assert [i.metadata.name for i in config_maps.get(namespace='apps').items] == ['kube-root-ca.crt']


def test_token_request_jwks_and_token_review(api, kube):
    _namespace(api, 'vms')
    accounts = api.resources.get(api_version='v1', kind='ServiceAccount')
    account = accounts.create({'metadata': {'name': 'catalog'}}, namespace='vms')
    core = k8s.CoreV1Api(api.client)
    spec = k8s.V1TokenRequestSpec(audiences=['istio-ca'], expiration_seconds=3600)
    request = k8s.AuthenticationV1TokenRequest(spec=spec)
    issued = core.create_namespaced_service_account_token('catalog', 'vms', request)
    token = issued.status.token

    headers = {'Authorization': 'Bearer ' + kube.token}
    discovery = requests.get(kube.url + '/.well-known/openid-configuration', headers=headers, verify=kube.ca_path,
                             timeout=10).json()
    jwks = requests.get(discovery['jwks_uri'], headers=headers, verify=kube.ca_path, timeout=10).json()
    key = jwt.PyJWK(jwks['keys'][0])
    claims = jwt.decode(token, key.key, algorithms=['RS256'], audience='istio-ca', issuer=discovery['issuer'])
    assert claims['sub'] == 'system:serviceaccount:vms:catalog'
    assert claims['kubernetes.io']['serviceaccount']['uid'] == account.metadata.uid

    reviews = k8s.AuthenticationV1Api(api.client)
    review = reviews.create_token_review(k8s.V1TokenReview(spec=k8s.V1TokenReviewSpec(token=token,
                                                                                      audiences=['istio-ca'])))
    assert review.status.authenticated and review.status.user.username == 'system:serviceaccount:vms:catalog'
    wrong_audience = reviews.create_token_review(k8s.V1TokenReview(spec=k8s.V1TokenReviewSpec(token=token)))
    assert not wrong_audience.status.authenticated

    with pytest.raises(k8s.ApiException) as refused:
        core.create_namespaced_service_account_token('catalog', 'vms', k8s.AuthenticationV1TokenRequest(
            spec=k8s.V1TokenRequestSpec(audiences=['istio-ca'], expiration_seconds=60)))
    assert refused.value.status == 422 and 'less than 10 minutes' in refused.value.body
    with pytest.raises(k8s.ApiException) as refused:
        core.create_namespaced_service_account_token('nobody', 'vms', request)
    assert refused.value.status == 404


def test_unauthenticated_requests_get_401(kube):
    response = requests.get(kube.url + '/api/v1/namespaces', verify=kube.ca_path, timeout=10,
                            headers={'Authorization': 'Bearer wrong'})
    assert response.status_code == 401
    assert response.json() == {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
                               'message': 'Unauthorized', 'reason': 'Unauthorized', 'code': 401}


def test_istio_root_cert_published_once_istiod_is_available(api, kube):
    _namespace(api, 'istio-system')
    _namespace(api, 'apps')
    root = '-----BEGIN CERTIFICATE-----\nplugged-in root\n-----END CERTIFICATE-----\n'
    secrets = api.resources.get(api_version='v1', kind='Secret')
    secrets.create({'metadata': {'name': 'cacerts'}, 'stringData': {'root-cert.pem': root}}, namespace='istio-system')
    assert base64.b64decode(secrets.get(name='cacerts', namespace='istio-system').data['root-cert.pem']).decode() == root
    config_maps = api.resources.get(api_version='v1', kind='ConfigMap')
    with pytest.raises(ApiException):
        config_maps.get(name='istio-ca-root-cert', namespace='apps')

    deployments = api.resources.get(api_version='apps/v1', kind='Deployment')
    deployments.create({'metadata': {'name': 'istiod'}, 'spec': {
        'selector': {'matchLabels': {'app': 'istiod'}},
        'template': {'metadata': {'labels': {'app': 'istiod'}},
                     'spec': {'containers': [{'name': 'discovery', 'image': 'pilot:1.27'}]}}}},
        namespace='istio-system')

    def available(event):
        conditions = event['object'].status.conditions or []
        return any(c.type == 'Available' and c.status == 'True' for c in conditions)

    _first_event(deployments, available, 'istio-system/istiod Available', namespace='istio-system', name='istiod')
    published = _first_event(config_maps, lambda event: True, 'apps/istio-ca-root-cert',
                             namespace='apps', name='istio-ca-root-cert')
    assert published['object'].data['root-cert.pem'] == root
    _namespace(api, 'later')
    published = _first_event(config_maps, lambda event: True, 'later/istio-ca-root-cert',
                             namespace='later', name='istio-ca-root-cert')
    assert published['object'].data['root-cert.pem'] == root
    assert kube.server.objects.find(kube.server.registry.by_key('', 'configmaps'), 'kube-system',
                                    'istio-ca-root-cert') is None
