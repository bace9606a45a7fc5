"""What a kubelet reads out of a pod spec before it starts a container: the environment and the volumes' files.

Follows the kubelet's documented behaviour (https://kubernetes.io/docs/tasks/inject-data-application/): ``env``
values with ``$(VAR)`` references to earlier variables expanded (``$$`` escapes), ``fieldRef`` on the downward
API's fields, ``resourceFieldRef`` as the container's limit (or request) divided by the divisor and rounded up, with
the node's allocatable standing in for a missing limit, ``configMapKeyRef``/``secretKeyRef``; volumes of kind
``emptyDir``, ``configMap``, ``secret``, ``downwardAPI`` and ``projected`` (service-account tokens bound to the
pod, from the TokenRequest API). Other volume kinds and ``envFrom`` are refused with ``Unsupported``.
"""

import base64
import decimal
import math
import os
import re

_QUANTITY = re.compile(r'^([0-9.]+)([a-zA-Z]*)$')
_SUFFIXES = {'': 1, 'm': decimal.Decimal('0.001'), 'k': 10 ** 3, 'M': 10 ** 6, 'G': 10 ** 9, 'T': 10 ** 12,
             'Ki': 2 ** 10, 'Mi': 2 ** 20, 'Gi': 2 ** 30, 'Ti': 2 ** 40}
_REFERENCE = re.compile(r'\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)')
TOKEN_RENEW_FRACTION = 0.8      # the kubelet renews a projected token at 80 % of its life


class Unsupported(ValueError):
    """A pod asks for something the lab's kubelet does not model."""


def quantity(text):
    """A Kubernetes quantity (``100m``, ``1Gi``, ``2``) as a Decimal."""
    match = _QUANTITY.match(str(text))
    if not match or match.group(2) not in _SUFFIXES:
        raise Unsupported('quantity %r' % text)
    return decimal.Decimal(match.group(1)) * _SUFFIXES[match.group(2)]


def _expand(value, env):
    def replace(match):
        if match.group(0) == '$$':
            return '$'
        return env.get(match.group(1), match.group(0))
    return _REFERENCE.sub(replace, value)


def downward_field(pod, path):
    """The value of a downward-API ``fieldPath`` for ``pod``."""
    meta, spec, status = pod['metadata'], pod['spec'], pod.get('status') or {}
    for kind in ('labels', 'annotations'):
        match = re.match(r"^metadata\.%s\['(.+)'\]$" % kind, path)
        if match:
            return (meta.get(kind) or {}).get(match.group(1), '')
        if path == 'metadata.' + kind:
            return ''.join('%s="%s"\n' % (key, value.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n'))
                           for key, value in sorted((meta.get(kind) or {}).items()))
    fields = {'metadata.name': meta['name'], 'metadata.namespace': meta['namespace'], 'metadata.uid': meta['uid'],
              'spec.nodeName': spec.get('nodeName', ''), 'spec.serviceAccountName': spec.get('serviceAccountName', ''),
              'status.hostIP': status.get('hostIP', ''), 'status.podIP': status.get('podIP', ''),
              'status.podIPs': ','.join(item['ip'] for item in status.get('podIPs') or [])}
    if path not in fields:
        raise Unsupported('fieldRef %s' % path)
    return fields[path]


def resource_field(container, node, source):
    resource = source['resource']
    kind, _dot, name = resource.partition('.')
    value = ((container.get('resources') or {}).get(kind) or {}).get(name)
    if value is None:
        # No limit: the node's allocatable, as the kubelet gives; no request: zero... for a limit's fallback only.
        value = ((node or {}).get('status', {}).get('allocatable') or {}).get(name, '0') if kind == 'limits' else '0'
    divisor = quantity(source.get('divisor') or '1')
    return str(int(math.ceil(quantity(value) / divisor)))


def environment(pod, container, node, api, base=None):
    """The container's environment: ``base`` (what the image and the kubelet set) and then its ``env``."""
    if container.get('envFrom'):
        raise Unsupported('envFrom in container %s' % container['name'])
    env = dict(base or {})
    namespace = pod['metadata']['namespace']
    for item in container.get('env') or []:
        source = item.get('valueFrom')
        if source is None:
            env[item['name']] = _expand(item.get('value', ''), env)
        elif 'fieldRef' in source:
            env[item['name']] = downward_field(pod, source['fieldRef']['fieldPath'])
        elif 'resourceFieldRef' in source:
            env[item['name']] = resource_field(container, node, source['resourceFieldRef'])
        elif 'configMapKeyRef' in source or 'secretKeyRef' in source:
            ref = source.get('configMapKeyRef') or source['secretKeyRef']
            kind = 'configmaps' if 'configMapKeyRef' in source else 'secrets'
            found = api.get('/api/v1/namespaces/%s/%s/%s' % (namespace, kind, ref['name'])) or {}
            data = found.get('data') or {}
            if ref['key'] in data:
                value = data[ref['key']]
                env[item['name']] = base64.b64decode(value).decode() if kind == 'secrets' else value
            elif not ref.get('optional'):
                raise Unsupported('%s %s has no key %s (not optional)' % (kind, ref['name'], ref['key']))
        else:
            raise Unsupported('env %s source %s' % (item['name'], sorted(source)))
    return env


def write_file(path, data, mode):
    """Write ``data`` (bytes) to ``path`` atomically, as the kubelet swaps a volume's files."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + '.new', 'wb') as handle:
        handle.write(data)
    os.chmod(path + '.new', mode)
    os.replace(path + '.new', path)


def bound_token(api, namespace, service_account, pod_name, pod_uid, audiences, seconds):
    """A service-account token bound to the pod, from the TokenRequest API, as the kubelet asks for a projected
    token; ``audiences`` None for the API server's own."""
    spec = {'expirationSeconds': seconds,
            'boundObjectRef': {'apiVersion': 'v1', 'kind': 'Pod', 'name': pod_name, 'uid': pod_uid}}
    if audiences:
        spec['audiences'] = audiences
    answer = api.create('/api/v1/namespaces/%s/serviceaccounts/%s/token' % (namespace, service_account),
                        {'apiVersion': 'authentication.k8s.io/v1', 'kind': 'TokenRequest', 'spec': spec})
    return answer['status']['token'].encode()


class PodVolumes:
    """The files of ``pod``'s volumes under ``root`` (one directory per volume); ``token`` is
    ``token(audiences, seconds) -> bytes`` for the pod's service account, bound to the pod."""

    def __init__(self, pod, root, api, token):
        self.pod = pod
        self.root = root
        self.api = api
        self.token = token
        self.renew_at = None        # monotonic time of the earliest token renewal, None without tokens

    def path(self, name):
        return os.path.join(self.root, name)

    def _object(self, kind, name, optional):
        found = self.api.get('/api/v1/namespaces/%s/%s/%s' % (self.pod['metadata']['namespace'], kind, name))
        if found is None and not optional:
            raise Unsupported('%s %s does not exist (the kubelet would wait for it)' % (kind[:-1], name))
        data = dict((found or {}).get('data') or {})
        if kind == 'secrets':
            data = {key: base64.b64decode(value) for key, value in data.items()}
        return {key: value if isinstance(value, bytes) else value.encode() for key, value in data.items()}

    @staticmethod
    def _items(data, items):
        if not items:
            return data
        return {item['path']: data[item['key']] for item in items if item['key'] in data}

    def _source_files(self, source, now, seconds_left):
        if 'configMap' in source or 'secret' in source:
            ref = source.get('configMap') or source['secret']
            kind = 'configmaps' if 'configMap' in source else 'secrets'
            name = ref.get('name') or ref.get('secretName')
            return self._items(self._object(kind, name, ref.get('optional')), ref.get('items'))
        if 'downwardAPI' in source:
            return {item['path']: downward_field(self.pod, item['fieldRef']['fieldPath']).encode()
                    for item in source['downwardAPI'].get('items') or []}
        if 'serviceAccountToken' in source:
            token = source['serviceAccountToken']
            seconds = int(token.get('expirationSeconds') or 3600)
            audiences = [token['audience']] if token.get('audience') else None
            seconds_left.append(seconds)
            return {token['path']: self.token(audiences, seconds)}
        raise Unsupported('projected source %s' % sorted(source))

    def write(self, now):
        """Write every volume's files (again, with fresh tokens); set when tokens need renewing."""
        lifetimes = []
        for volume in self.pod['spec'].get('volumes') or []:
            name, directory = volume['name'], self.path(volume['name'])
            if 'emptyDir' in volume:
                os.makedirs(directory, exist_ok=True)
                os.chmod(directory, 0o777)      # as the kubelet makes an emptyDir: any container user writes it
                continue
            if 'projected' in volume:
                files = {}
                for source in volume['projected'].get('sources') or []:
                    files.update(self._source_files(source, now, lifetimes))
                mode = volume['projected'].get('defaultMode', 0o644)
            elif 'downwardAPI' in volume:
                files = self._source_files({'downwardAPI': volume['downwardAPI']}, now, lifetimes)
                mode = volume['downwardAPI'].get('defaultMode', 0o644)
            elif 'configMap' in volume or 'secret' in volume:
                files = self._source_files(volume, now, lifetimes)
                mode = (volume.get('configMap') or volume.get('secret')).get('defaultMode', 0o644)
            else:
                raise Unsupported('volume %s of kind %s' % (name, sorted(set(volume) - {'name'})))
            for path, data in files.items():
                # Readable by the pod's non-root users (the sandbox is the pod's alone; the kubelet does the same
                # with fsGroup or the projected token's owner).
                write_file(os.path.join(directory, path), data, mode | 0o444)
        self.renew_at = now + TOKEN_RENEW_FRACTION * min(lifetimes) if lifetimes else None
