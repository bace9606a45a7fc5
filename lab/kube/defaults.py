"""Defaulting: the fields the real server fills in on create and update, so that what clients read back (and
compare for idempotence) looks like what a real cluster returns. Also ClusterIP and NodePort allocation,
which the real server does synchronously on create."""

import base64
import ipaddress

from lab.kube import errors

NODE_PORTS = range(30000, 32768)


def _container_defaults(container):
    container.setdefault('terminationMessagePath', '/dev/termination-log')
    container.setdefault('terminationMessagePolicy', 'File')
    image = container.get('image', '')
    tag = image.rpartition(':')[2] if ':' in image.rpartition('/')[2] else ''
    container.setdefault('imagePullPolicy', 'Always' if tag in ('', 'latest') and '@' not in image else 'IfNotPresent')
    for port in container.get('ports') or []:
        port.setdefault('protocol', 'TCP')
    container.setdefault('resources', {})


def _pod_template_defaults(template):
    spec = template.setdefault('spec', {})
    spec.setdefault('restartPolicy', 'Always')
    spec.setdefault('terminationGracePeriodSeconds', 30)
    spec.setdefault('dnsPolicy', 'ClusterFirst')
    spec.setdefault('securityContext', {})
    spec.setdefault('schedulerName', 'default-scheduler')
    for container in (spec.get('containers') or []) + (spec.get('initContainers') or []):
        _container_defaults(container)
    template.setdefault('metadata', {})


def _deployment(obj, _old, _allocator):
    spec = obj.setdefault('spec', {})
    spec.setdefault('replicas', 1)
    spec.setdefault('revisionHistoryLimit', 10)
    spec.setdefault('progressDeadlineSeconds', 600)
    strategy = spec.setdefault('strategy', {'type': 'RollingUpdate'})
    if strategy.get('type', 'RollingUpdate') == 'RollingUpdate':
        strategy.setdefault('type', 'RollingUpdate')
        strategy.setdefault('rollingUpdate', {}).setdefault('maxUnavailable', '25%')
        strategy['rollingUpdate'].setdefault('maxSurge', '25%')
    _pod_template_defaults(spec.setdefault('template', {}))


def _service(obj, old, allocator):
    spec = obj.setdefault('spec', {})
    spec.setdefault('type', 'ClusterIP')
    spec.setdefault('sessionAffinity', 'None')
    for port in spec.get('ports') or []:
        port.setdefault('protocol', 'TCP')
        port.setdefault('targetPort', port.get('port'))
    if spec['type'] == 'ExternalName':
        return
    old_spec = (old or {}).get('spec') or {}
    if 'clusterIP' not in spec or spec['clusterIP'] == '':
        spec['clusterIP'] = old_spec.get('clusterIP') or allocator.cluster_ip()
    spec['clusterIPs'] = [spec['clusterIP']]
    spec.setdefault('ipFamilies', ['IPv4'])
    spec.setdefault('ipFamilyPolicy', 'SingleStack')
    spec.setdefault('internalTrafficPolicy', 'Cluster')
    if spec['type'] in ('NodePort', 'LoadBalancer'):
        spec.setdefault('externalTrafficPolicy', 'Cluster')
        old_ports = {(p.get('port'), p.get('protocol')): p.get('nodePort') for p in old_spec.get('ports') or []}
        taken = {port.get('nodePort') for port in spec.get('ports') or []}
        for port in spec.get('ports') or []:
            if not port.get('nodePort'):
                port['nodePort'] = old_ports.get((port.get('port'), port['protocol'])) or allocator.node_port(taken)
                taken.add(port['nodePort'])
    if spec['type'] == 'LoadBalancer':
        spec.setdefault('allocateLoadBalancerNodePorts', True)
    obj.setdefault('status', {}).setdefault('loadBalancer', {})


def _secret(obj, _old, _allocator):
    obj.setdefault('type', 'Opaque')
    string_data = obj.pop('stringData', None)
    if string_data:
        data = obj.setdefault('data', {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def _namespace(obj, _old, _allocator):
    obj.setdefault('spec', {}).setdefault('finalizers', ['kubernetes'])
    obj.setdefault('status', {}).setdefault('phase', 'Active')
    obj['metadata'].setdefault('labels', {})['kubernetes.io/metadata.name'] = obj['metadata']['name']


def _service_account(_obj, _old, _allocator):
    pass


_DEFAULTERS = {
    ('apps', 'Deployment'): _deployment,
    ('', 'Service'): _service,
    ('', 'Secret'): _secret,
    ('', 'Namespace'): _namespace,
    ('', 'ServiceAccount'): _service_account,
}


def apply_defaults(rtype, obj, old, allocator):
    if rtype.crd is None and (rtype.group, rtype.kind) in _DEFAULTERS:
        _DEFAULTERS[(rtype.group, rtype.kind)](obj, old, allocator)


class Allocator:
    """ClusterIPs from the service range and node ports, never reusing one a stored Service holds."""

    def __init__(self, service_cidr, services):
        self._network = ipaddress.ip_network(service_cidr)
        self._services = services  # callable returning every stored Service

    def _used(self, field):
        used = set()
        for service in self._services():
            spec = service.get('spec') or {}
            if field == 'clusterIP':
                used.add(spec.get('clusterIP'))
            else:
                used.update(port.get('nodePort') for port in spec.get('ports') or [])
        return used

    def cluster_ip(self):
        used = self._used('clusterIP')
        for address in self._network.hosts():
            if str(address) not in used:
                return str(address)
        raise errors.ApiError(500, 'InternalError', 'Internal error occurred: failed to allocate a serviceIP: range is full')

    def node_port(self, taken=()):
        used = self._used('nodePort') | set(taken)
        for port in NODE_PORTS:
            if port not in used:
                return port
        raise errors.ApiError(422, 'Invalid', 'spec.ports[0].nodePort: Invalid value: 0: range is full')
