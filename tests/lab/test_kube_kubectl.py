"""The real kubectl against the Kubernetes API stand-in: apply, get, label, patch, wait, delete, and refusals."""

import textwrap

WEB = textwrap.dedent('''
    apiVersion: v1
    kind: Namespace
    metadata: {name: demo}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, namespace: demo, labels: {app: web}}
    spec:
      replicas: 2
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
          - name: web
            image: nginx:1.27
            ports: [{containerPort: 80}]
            env: [{name: MODE, value: blue}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: demo}
    spec:
      type: LoadBalancer
      selector: {app: web}
      ports: [{name: http, port: 80, targetPort: 80}]
    ''')


def test_apply_is_idempotent_and_controllers_act(kubectl):
    first = kubectl.run('apply', '-f', '-', stdin=WEB).stdout
    assert 'deployment.apps/web created' in first and 'service/web created' in first
    second = kubectl.run('apply', '-f', '-', stdin=WEB).stdout
    assert second.count('unchanged') == 3, second

    rollout = kubectl.run('rollout', 'status', 'deployment/web', '-n', 'demo', '--timeout=20s').stdout
    assert 'successfully rolled out' in rollout
    kubectl.run('wait', '--for=condition=Available', 'deployment/web', '-n', 'demo', '--timeout=20s')
    deployment = kubectl.json('get', 'deployment', 'web', '-n', 'demo')
    assert deployment['status']['readyReplicas'] == 2
    assert deployment['spec']['template']['spec']['containers'][0]['imagePullPolicy'] == 'IfNotPresent'

    kubectl.run('wait', '--for=jsonpath={.status.loadBalancer.ingress[0].ip}', 'service/web', '-n', 'demo',
                '--timeout=20s')
    service = kubectl.json('get', 'service', 'web', '-n', 'demo')
    assert service['status']['loadBalancer']['ingress'][0]['ip'].startswith('10.168.8.')
    assert service['spec']['clusterIP'].startswith('10.8.')

    names = kubectl.run('get', 'serviceaccount,configmap', '-n', 'demo', '-o', 'name').stdout.split()
    assert 'serviceaccount/default' in names and 'configmap/kube-root-ca.crt' in names


def test_label_patch_and_strategic_merge_by_container_name(kubectl):
    kubectl.run('apply', '-f', '-', stdin=WEB)
    kubectl.run('label', 'deployment', 'web', '-n', 'demo', 'tier=front')
    kubectl.run('patch', 'deployment', 'web', '-n', 'demo', '-p',
                '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.28"}]}}}}')
    deployment = kubectl.json('get', 'deployment', 'web', '-n', 'demo')
    container = deployment['spec']['template']['spec']['containers'][0]
    # Strategic merge kept the container's other fields: merged by name, not replaced.
    assert container['image'] == 'nginx:1.28' and container['env'] == [{'name': 'MODE', 'value': 'blue'}]
    assert deployment['metadata']['labels'] == {'app': 'web', 'tier': 'front'}
    assert deployment['metadata']['generation'] == 2

    kubectl.run('patch', 'deployment', 'web', '-n', 'demo', '--type', 'json',
                '-p', '[{"op":"replace","path":"/spec/replicas","value":3}]')
    kubectl.run('patch', 'deployment', 'web', '-n', 'demo', '--type', 'merge', '-p', '{"metadata":{"labels":{"tier":null}}}')
    deployment = kubectl.json('get', 'deployment', 'web', '-n', 'demo')
    assert deployment['spec']['replicas'] == 3 and 'tier' not in deployment['metadata']['labels']


def test_server_side_apply_reports_conflicts_and_force_takes_ownership(kubectl):
    kubectl.run('apply', '--server-side', '-f', '-', stdin=WEB)
    kubectl.run('patch', 'deployment', 'web', '-n', 'demo', '-p',
                '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.28"}]}}}}')
    refused = kubectl.run('apply', '--server-side', '-f', '-', stdin=WEB, check=False)
    assert refused.returncode != 0
    assert 'conflict with "kubectl-patch"' in refused.stderr
    assert '.spec.template.spec.containers[name="web"].image' in refused.stderr
    kubectl.run('apply', '--server-side', '--force-conflicts', '-f', '-', stdin=WEB)
    deployment = kubectl.json('get', 'deployment', 'web', '-n', 'demo', '--show-managed-fields')
    assert deployment['spec']['template']['spec']['containers'][0]['image'] == 'nginx:1.27'
    managers = {entry['manager']: entry['operation'] for entry in deployment['metadata']['managedFields']}
    assert managers['kubectl'] == 'Apply'


def test_delete_namespace_removes_its_objects(kubectl, kube):
    kubectl.run('apply', '-f', '-', stdin=WEB)
    kubectl.run('delete', 'namespace', 'demo', '--timeout=20s')
    assert 'demo' not in kubectl.run('get', 'namespaces', '-o', 'name').stdout
    assert kube.server.objects.storage.list(('apps', 'deployments'), 'demo')[0] == []


def test_refuses_object_in_missing_namespace(kubectl):
    refused = kubectl.run('apply', '-f', '-', stdin=WEB.split('---', 2)[2], check=False)
    assert refused.returncode != 0
    assert 'namespaces "demo" not found' in refused.stderr


def test_refuses_missing_required_field_and_unknown_field(kubectl):
    kubectl.run('apply', '-f', '-', stdin=WEB.split('---')[0])
    no_name = WEB.split('---')[1].replace('- name: web\n', '- \n')
    refused = kubectl.run('apply', '-f', '-', stdin=no_name, check=False)
    assert 'spec.template.spec.containers[0].name: Required value' in refused.stderr, refused.stderr
    unknown = WEB.split('---')[1].replace('replicas: 2', 'replicas: 2\n  replicaz: 3')
    refused = kubectl.run('apply', '-f', '-', stdin=unknown, check=False)
    assert 'strict decoding error: unknown field "spec.replicaz"' in refused.stderr, refused.stderr
    wrong_type = WEB.split('---')[1].replace('replicas: 2', 'replicas: two')
    refused = kubectl.run('apply', '-f', '-', stdin=wrong_type, check=False)
    assert refused.returncode != 0 and 'replicas' in refused.stderr


def test_diff_shows_a_change_without_making_it(kubectl):
    kubectl.run('apply', '-f', '-', stdin=WEB)
    before = kubectl.json('get', 'deployment', 'web', '-n', 'demo')['metadata']['resourceVersion']
    assert kubectl.run('diff', '-f', '-', stdin=WEB).returncode == 0
    changed = kubectl.run('diff', '-f', '-', stdin=WEB.replace('nginx:1.27', 'nginx:1.29'), check=False)
    assert changed.returncode == 1, changed.stderr
    assert '-        image: nginx:1.27' in changed.stdout and '+        image: nginx:1.29' in changed.stdout
    assert kubectl.json('get', 'deployment', 'web', '-n', 'demo')['metadata']['resourceVersion'] == before
