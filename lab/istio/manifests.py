"""The Kubernetes objects a real ``istioctl install`` of an IstioOperator creates, as the stand-in renders them.

Rendered: Istio's CRDs (base), istiod's ServiceAccount, RBAC, ConfigMaps ``istio`` (mesh config) and
``istio-sidecar-injector`` (injection template and the values), Deployment, Service and webhook configurations
(pilot), and each enabled gateway's ServiceAccount, Deployment and Service. Names, labels, ports, images and the
mesh config keys follow Istio's charts. Simplified: pod templates carry only the fields clients of the lab read
(image, env, ports), RBAC rules are summaries, the injection template is a placeholder (no pod is ever injected in
the lab), and no PodDisruptionBudget, HPA or Role/RoleBinding for gateways is created.
"""

import json

import yaml

from lab.istio.crds import embedded_or_built

# Labels istioctl puts on everything it installs; uninstall and pruning find objects by them.
COMPONENT_LABEL = 'operator.istio.io/component'
REVISION_LABEL = 'istio.io/rev'
MANAGED_LABEL = 'operator.istio.io/managed'

_INGRESS_PORTS = [
    {'name': 'status-port', 'port': 15021, 'targetPort': 15021, 'protocol': 'TCP'},
    {'name': 'http2', 'port': 80, 'targetPort': 8080, 'protocol': 'TCP'},
    {'name': 'https', 'port': 443, 'targetPort': 8443, 'protocol': 'TCP'},
]
_EGRESS_PORTS = [
    {'name': 'http2', 'port': 80, 'targetPort': 8080, 'protocol': 'TCP'},
    {'name': 'https', 'port': 443, 'targetPort': 8443, 'protocol': 'TCP'},
]


def _labels(effective, component, extra=None):
    labels = {COMPONENT_LABEL: component, REVISION_LABEL: effective.revision_label, MANAGED_LABEL: 'Reconcile',
              'install.operator.istio.io/owning-resource': 'unknown', 'operator.istio.io/version': effective.version}
    labels.update(extra or {})
    return labels


def _meta(name, effective, component, namespace=True, extra_labels=None):
    meta = {'name': name, 'labels': _labels(effective, component, extra_labels)}
    if namespace:
        meta['namespace'] = effective.namespace
    return meta


def mesh_config(effective):
    """The mesh config istiod reads from ConfigMap ``istio``: chart defaults, then spec.meshConfig over them."""
    discovery = 'istiod%s.%s.svc:15012' % (effective.suffix, effective.namespace)
    default_config = {'discoveryAddress': discovery, 'tracing': {'zipkin': {'address': 'zipkin.istio-system:9411'}}}
    if effective.mesh_id:
        default_config['meshId'] = effective.mesh_id
    mesh = {
        'defaultConfig': default_config,
        'defaultProviders': {'metrics': ['prometheus']},
        'enablePrometheusMerge': True,
        'rootNamespace': effective.namespace,
        'trustDomain': 'cluster.local',
    }
    for key, value in effective.mesh_config.items():
        if key == 'defaultConfig':
            default_config.update(value or {})
        else:
            mesh[key] = value
    return mesh


def _istiod_env(effective):
    env = {
        'REVISION': effective.revision_label,
        'PILOT_CERT_PROVIDER': 'istiod',
        'POD_NAMESPACE': effective.namespace,
        'CLUSTER_ID': effective.cluster_name,
        'ISTIOD_CUSTOM_HOST': 'istiod%s.%s.svc' % (effective.suffix, effective.namespace),
        'PILOT_ENABLE_WORKLOAD_ENTRY_AUTOREGISTRATION': 'true',
        'PILOT_ENABLE_WORKLOAD_ENTRY_HEALTHCHECKS': 'true',
    }
    for key, value in ((effective.values.get('pilot') or {}).get('env') or {}).items():
        env[key] = str(value).lower() if isinstance(value, bool) else str(value)
    for item in (effective.pilot_spec.get('k8s') or {}).get('env') or []:
        env[item['name']] = str(item.get('value', ''))
    return [{'name': k, 'value': v} for k, v in env.items()]


def _deployment(name, effective, component, labels, container, replicas=1, deployment_labels=None):
    selector = {k: labels[k] for k in ('app', 'istio') if k in labels}
    if REVISION_LABEL in labels:
        selector[REVISION_LABEL] = labels[REVISION_LABEL]
    meta_labels = dict(labels)
    meta_labels.update(deployment_labels or {})
    return {
        'apiVersion': 'apps/v1', 'kind': 'Deployment',
        'metadata': _meta(name, effective, component, extra_labels=meta_labels),
        'spec': {
            'replicas': replicas,
            'selector': {'matchLabels': selector},
            'template': {
                'metadata': {'labels': dict(labels, **{'sidecar.istio.io/inject': 'false'})},
                'spec': {'serviceAccountName': container.pop('serviceAccountName'), 'containers': [container]},
            },
        },
    }


def _pilot(effective):
    name = 'istiod' + effective.suffix
    ns = effective.namespace
    labels = {'app': 'istiod', 'istio': 'pilot', REVISION_LABEL: effective.revision_label}
    injector_values = {'global': dict(effective.values.get('global') or {}, istioNamespace=ns),
                       'revision': effective.revision, 'pilot': effective.values.get('pilot') or {}}
    injector_values['global'].setdefault('multiCluster', {}).setdefault('clusterName', effective.cluster_name)
    injector_values['global'].setdefault('meshID', effective.mesh_id)
    injector_values['global'].setdefault('network', effective.network)
    pilot_values = effective.values.get('pilot') or {}
    deployment_labels = pilot_values.get('deploymentLabels') or {}
    webhook_service = {'name': name, 'namespace': ns, 'port': 443}
    return [
        {'apiVersion': 'v1', 'kind': 'ServiceAccount', 'metadata': _meta(name, effective, 'Pilot', extra_labels=labels)},
        {'apiVersion': 'rbac.authorization.k8s.io/v1', 'kind': 'ClusterRole',
         'metadata': _meta('istiod-clusterrole%s-%s' % (effective.suffix, ns), effective, 'Pilot', False, labels),
         'rules': [{'apiGroups': ['networking.istio.io', 'security.istio.io', 'telemetry.istio.io',
                                  'extensions.istio.io'], 'resources': ['*'], 'verbs': ['get', 'watch', 'list']},
                   {'apiGroups': ['networking.istio.io'], 'resources': ['workloadentries', 'workloadentries/status'],
                    'verbs': ['get', 'watch', 'list', 'update', 'patch', 'create', 'delete']},
                   {'apiGroups': [''], 'resources': ['configmaps'],
                    'verbs': ['create', 'get', 'list', 'watch', 'update']}]},
        {'apiVersion': 'rbac.authorization.k8s.io/v1', 'kind': 'ClusterRoleBinding',
         'metadata': _meta('istiod-clusterrole%s-%s' % (effective.suffix, ns), effective, 'Pilot', False, labels),
         'roleRef': {'apiGroup': 'rbac.authorization.k8s.io', 'kind': 'ClusterRole',
                     'name': 'istiod-clusterrole%s-%s' % (effective.suffix, ns)},
         'subjects': [{'kind': 'ServiceAccount', 'name': name, 'namespace': ns}]},
        {'apiVersion': 'v1', 'kind': 'ConfigMap',
         'metadata': _meta('istio' + effective.suffix, effective, 'Pilot', extra_labels={REVISION_LABEL: effective.revision_label}),
         'data': {'mesh': yaml.safe_dump(mesh_config(effective), sort_keys=True),
                  'meshNetworks': yaml.safe_dump({'networks': (effective.values.get('global') or {}).get('meshNetworks') or {}})}},
        {'apiVersion': 'v1', 'kind': 'ConfigMap',
         'metadata': _meta('istio-sidecar-injector' + effective.suffix, effective, 'Pilot',
                           extra_labels={REVISION_LABEL: effective.revision_label}),
         'data': {'values': json.dumps(injector_values, sort_keys=True),
                  'config': yaml.safe_dump({'defaultTemplates': ['sidecar'], 'policy': 'enabled',
                                            'templates': {'sidecar': '# not rendered by the lab stand-in\n'}})}},
        _deployment(name, effective, 'Pilot', labels, {
            'name': 'discovery', 'serviceAccountName': name,
            'image': '%s/pilot:%s' % (effective.hub, effective.tag),
            'args': ['discovery', '--monitoringAddr=:15014', '--log_output_level=default:info', '--domain',
                     'cluster.local', '--keepaliveMaxServerConnectionAge', '30m'],
            'ports': [{'containerPort': 8080, 'protocol': 'TCP'}, {'containerPort': 15010, 'protocol': 'TCP'},
                      {'containerPort': 15017, 'protocol': 'TCP'}],
            'env': _istiod_env(effective),
        }, replicas=(effective.pilot_spec.get('k8s') or {}).get('replicaCount', 1), deployment_labels=deployment_labels),
        {'apiVersion': 'v1', 'kind': 'Service', 'metadata': _meta(name, effective, 'Pilot', extra_labels=labels),
         'spec': {'type': 'ClusterIP', 'selector': {'app': 'istiod', REVISION_LABEL: effective.revision_label},
                  'ports': [{'name': 'grpc-xds', 'port': 15010, 'protocol': 'TCP'},
                            {'name': 'https-dns', 'port': 15012, 'protocol': 'TCP'},
                            {'name': 'https-webhook', 'port': 443, 'targetPort': 15017, 'protocol': 'TCP'},
                            {'name': 'http-monitoring', 'port': 15014, 'protocol': 'TCP'}]}},
        {'apiVersion': 'admissionregistration.k8s.io/v1', 'kind': 'MutatingWebhookConfiguration',
         'metadata': _meta('istio-sidecar-injector' + effective.suffix, effective, 'Pilot', False, labels),
         'webhooks': [{'name': 'rev.namespace.sidecar-injector.istio.io',
                       'clientConfig': {'service': dict(webhook_service, path='/inject')},
                       'admissionReviewVersions': ['v1'], 'sideEffects': 'None', 'failurePolicy': 'Fail',
                       'namespaceSelector': {'matchExpressions': [
                           {'key': 'istio.io/rev', 'operator': 'In', 'values': [effective.revision_label]},
                           {'key': 'istio-injection', 'operator': 'DoesNotExist'}]},
                       'rules': [{'operations': ['CREATE'], 'apiGroups': [''], 'apiVersions': ['v1'],
                                  'resources': ['pods']}]}]},
        {'apiVersion': 'admissionregistration.k8s.io/v1', 'kind': 'ValidatingWebhookConfiguration',
         'metadata': _meta('istio-validator%s-%s' % (effective.suffix, ns), effective, 'Pilot', False, labels),
         'webhooks': [{'name': 'rev.validation.istio.io',
                       'clientConfig': {'service': dict(webhook_service, path='/validate')},
                       'admissionReviewVersions': ['v1'], 'sideEffects': 'None', 'failurePolicy': 'Ignore',
                       'rules': [{'operations': ['CREATE', 'UPDATE'],
                                  'apiGroups': ['security.istio.io', 'networking.istio.io', 'telemetry.istio.io',
                                                'extensions.istio.io'],
                                  'apiVersions': ['*'], 'resources': ['*']}]}]},
    ]


def _gateway_service(name, effective, component, labels, gateway, k8s, service, ports):
    """The gateway's Service, with the component's ``k8s.serviceAnnotations`` as its annotations and the rest of
    ``k8s.service`` over its spec, as istioctl's post-processing patches them in (operator/pkg/render/postprocess.go:
    ``serviceAnnotations`` -> ``metadata.annotations``, ``service`` -> ``spec``, ports handled as values)."""
    metadata = _meta(name, effective, component, extra_labels=labels)
    if k8s.get('serviceAnnotations'):
        metadata['annotations'] = {key: str(value) for key, value in k8s['serviceAnnotations'].items()}
    spec = {'type': service.get('type') or ('ClusterIP' if gateway['egress'] else 'LoadBalancer'),
            'selector': {k: v for k, v in labels.items() if k != REVISION_LABEL},
            'ports': [{k: p[k] for k in ('name', 'port', 'targetPort', 'protocol') if k in p} for p in ports]}
    spec.update({key: value for key, value in service.items() if key not in ('ports', 'type')})
    return {'apiVersion': 'v1', 'kind': 'Service', 'metadata': metadata, 'spec': spec}


def _gateway(effective, gateway):
    name = gateway['name']
    component = 'EgressGateways' if gateway['egress'] else 'IngressGateways'
    labels = dict(gateway.get('label') or {})
    labels.setdefault('app', name)
    labels.setdefault('istio', 'egressgateway' if gateway['egress'] else 'ingressgateway')
    labels[REVISION_LABEL] = effective.revision_label
    k8s = gateway.get('k8s') or {}
    service = k8s.get('service') or {}
    ports = service.get('ports') or (_EGRESS_PORTS if gateway['egress'] else _INGRESS_PORTS)
    env = [{'name': 'ISTIO_META_CLUSTER_ID', 'value': effective.cluster_name}]
    if effective.network:
        env.append({'name': 'ISTIO_META_NETWORK', 'value': effective.network})
    env += [{'name': e['name'], 'value': str(e.get('value', ''))} for e in k8s.get('env') or []]
    namespace = gateway.get('namespace') or effective.namespace
    service_account = name + '-service-account'
    objects = [
        {'apiVersion': 'v1', 'kind': 'ServiceAccount', 'metadata': _meta(service_account, effective, component,
                                                                         extra_labels=labels)},
        _deployment(name, effective, component, labels, {
            'name': 'istio-proxy', 'serviceAccountName': service_account,
            'image': '%s/proxyv2:%s' % (gateway.get('hub') or effective.hub, gateway.get('tag') or effective.tag),
            'args': ['proxy', 'router', '--domain', '$(POD_NAMESPACE).svc.cluster.local'],
            'ports': [{'containerPort': p.get('targetPort', p['port']), 'protocol': p.get('protocol', 'TCP')}
                      for p in ports],
            'env': env,
        }, replicas=k8s.get('replicaCount', 1)),
        _gateway_service(name, effective, component, labels, gateway, k8s, service, ports),
    ]
    for obj in objects:
        obj['metadata']['namespace'] = namespace
    return objects


def render(effective):
    """Every object of the install, CRDs first (objects of their kinds may follow in other installs)."""
    objects = []
    if effective.base:
        for crd in embedded_or_built():
            crd['metadata']['labels'].update(_labels(effective, 'Base'))
            objects.append(crd)
    if effective.pilot:
        objects += _pilot(effective)
    for gateway in effective.gateways:
        objects += _gateway(effective, gateway)
    return objects
