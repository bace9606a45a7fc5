"""kubernetes.core's k8s and k8s_info modules, through real ansible-playbook, against the Kubernetes API stand-in."""

PLAY = '''
- name: Shop in the lab cluster
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/kubernetes.core.k8s:
      kubeconfig: "{{ kubeconfig }}"
      context: lab
  tasks:
    - name: Namespace
      kubernetes.core.k8s:
        state: present
        definition: {apiVersion: v1, kind: Namespace, metadata: {name: shop, labels: {istio-injection: enabled}}}

    - name: Deployment applied
      kubernetes.core.k8s:
        apply: true
        wait: true
        wait_timeout: 30
        definition:
          apiVersion: apps/v1
          kind: Deployment
          metadata: {name: frontend, namespace: shop, labels: {app: frontend}}
          spec:
            replicas: "{{ replicas }}"
            selector: {matchLabels: {app: frontend}}
            template:
              metadata: {labels: {app: frontend}}
              spec:
                containers:
                  - name: server
                    image: "{{ image }}"
                    ports: [{containerPort: 8080}]
                    env: [{name: PORT, value: "8080"}]

    - name: Service server-side applied
      kubernetes.core.k8s:
        server_side_apply: {field_manager: meshbridge}
        definition:
          apiVersion: v1
          kind: Service
          metadata: {name: frontend-external, namespace: shop}
          spec:
            type: LoadBalancer
            selector: {app: frontend}
            ports: [{name: http, port: 80, targetPort: 8080}]

    - name: Secret created
      kubernetes.core.k8s:
        definition:
          apiVersion: v1
          kind: Secret
          metadata: {name: token, namespace: shop}
          stringData: {token: not-a-real-secret}
      no_log: true

    - name: Available deployments
      kubernetes.core.k8s_info:
        kind: Deployment
        namespace: shop
        label_selectors: [app=frontend]
        wait: true
        wait_condition: {type: Available, status: "True"}
        wait_timeout: 30
      register: available

    - name: Load balancer address
      kubernetes.core.k8s_info:
        kind: Service
        name: frontend-external
        namespace: shop
      register: service
'''

VARS = {'replicas': 2, 'image': 'gcr.io/google-samples/microservices-demo/frontend:v0.10.1'}


def _vars(kube, **extra):
    return dict(VARS, kubeconfig=kube.kubeconfig, **extra)


def _deployment(kube):
    return kube.server.objects.find(kube.server.registry.by_key('apps', 'deployments'), 'shop', 'frontend')


def test_apply_wait_idempotence_check_mode_diff_and_absent(run_playbook, kube):
    # One scenario, because every ansible-playbook run costs seconds of the shared CPUs.
    first = run_playbook(PLAY, extra_vars=_vars(kube))
    assert first.changed() == 4
    deployment = first.task('Available deployments')['resources']
    assert [d['metadata']['name'] for d in deployment] == ['frontend']
    assert deployment[0]['status']['readyReplicas'] == 2
    ingress = first.task('Load balancer address')['resources'][0]['status']['loadBalancer']['ingress']
    assert ingress[0]['ip'].startswith('10.168.8.')

    second = run_playbook(PLAY, extra_vars=_vars(kube))
    assert second.changed() == 0, [t['task']['name'] for p in second.report['plays'] for t in p['tasks']
                                   if t['hosts']['localhost'].get('changed')]

    before = _deployment(kube)['metadata']['resourceVersion']
    checked = run_playbook(PLAY, extra_vars=_vars(kube, image='frontend:v0.10.2'), check=True, diff=True)
    applied = checked.task('Deployment applied')
    assert applied['changed'] is True and checked.changed() == 1
    assert applied['diff']['before']['spec']['template']['spec']['containers'][0]['image'] == VARS['image']
    assert applied['diff']['after']['spec']['template']['spec']['containers'][0]['image'] == 'frontend:v0.10.2'
    assert _deployment(kube)['metadata']['resourceVersion'] == before

    removed = run_playbook('''
    - name: Teardown
      hosts: localhost
      gather_facts: false
      tasks:
        - name: Namespace gone
          kubernetes.core.k8s:
            kubeconfig: "{{ kubeconfig }}"
            state: absent
            kind: Namespace
            name: shop
            wait: true
            wait_timeout: 30
    ''', extra_vars={'kubeconfig': kube.kubeconfig})
    assert removed.changed() == 1
    assert _deployment(kube) is None
    assert kube.server.objects.find(kube.server.registry.by_key('', 'namespaces'), None, 'shop') is None


def test_check_mode_creates_nothing(run_playbook, kube):
    checked = run_playbook(PLAY, check=True, extra_vars=_vars(kube), expect_failure=True)
    # The namespace is only predicted, so the server refuses the Deployment's dry run in it (404), as a real one does.
    assert checked.task('Namespace')['changed'] is True
    assert 'namespaces \\"shop\\" not found' in checked.task('Deployment applied')['msg']
    assert kube.server.objects.find(kube.server.registry.by_key('', 'namespaces'), None, 'shop') is None


def test_refusals_surface_as_task_failures(run_playbook, kube):
    failed = run_playbook('''
    - name: Refused
      hosts: localhost
      gather_facts: false
      tasks:
        - name: ConfigMap in a namespace that does not exist
          kubernetes.core.k8s:
            kubeconfig: "{{ kubeconfig }}"
            definition: {apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: missing}, data: {a: b}}
    ''', extra_vars={'kubeconfig': kube.kubeconfig}, expect_failure=True)
    result = failed.task('ConfigMap in a namespace that does not exist')
    assert result['failed'] and result['reason'] == 'Not Found'
    assert '"reason": "NotFound"' in result['msg'] and 'namespaces \\"missing\\" not found' in result['msg']
