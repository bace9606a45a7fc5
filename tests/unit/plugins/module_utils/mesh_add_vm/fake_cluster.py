"""An in-memory API server for mesh_add_vm's backend, and the module parameters its tests start from.

The fake keeps objects as the client's KubeClient returns them (dicts) and adds what a server adds (uid,
resourceVersion, a Service's clusterIP and port defaults), so that comparisons see server-side extras."""

import base64
import copy
import datetime
import json

START = datetime.datetime(2026, 11, 24, 21, 0, tzinfo=datetime.timezone.utc)
ISTIO_KINDS = ('WorkloadGroup', 'WorkloadEntry', 'ServiceEntry')


class FakeKube:
    def __init__(self, clock, istio_versions=('networking.istio.io/v1', 'networking.istio.io/v1beta1'), istio_kinds=ISTIO_KINDS):
        self.clock = clock
        self.store = {}
        self.served = set((version, kind) for version in istio_versions for kind in istio_kinds)
        self.applied = []
        self.deleted = []
        self.tokens_issued = 0
        self.reviews = 0
        # Tokens this cluster signed; another cluster's (one deleted and made again) are refused.
        self.signed = set()
        self._version = 0

    @staticmethod
    def _key(kind, name, namespace):
        return kind, namespace, name

    def serves(self, api_version, kind):
        return kind not in ISTIO_KINDS or (api_version, kind) in self.served

    def request_token(self, namespace, name, body):
        assert self.get('v1', 'ServiceAccount', name, namespace), 'TokenRequest for a missing service account'
        self.tokens_issued += 1
        expires = self.clock() + datetime.timedelta(seconds=body['spec']['expirationSeconds'])
        claims = {'sub': 'system:serviceaccount:%s:%s' % (namespace, name), 'aud': body['spec']['audiences'],
                  'exp': int(expires.timestamp()), 'jti': str(self.tokens_issued)}
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b'=').decode()
        token = 'eyJhbGciOiJSUzI1NiJ9.%s.c2ln' % payload
        self.signed.add(token)
        return {'status': {'token': token, 'expirationTimestamp': expires.isoformat()}}

    def review_token(self, token, audiences):
        self.reviews += 1
        if token not in self.signed:
            return {'authenticated': False, 'error': '[invalid bearer token, Signature verification failed]'}
        claims = json.loads(base64.urlsafe_b64decode(token.split('.')[1] + '=='))
        return {'authenticated': True, 'audiences': [a for a in audiences if a in claims['aud']],
                'user': {'username': claims['sub']}}

    def get(self, api_version, kind, name, namespace=None):
        if not self.serves(api_version, kind):
            return None
        found = self.store.get(self._key(kind, name, namespace))
        return copy.deepcopy(found) if found else None

    def list(self, api_version, kind, namespace=None, label_selector=None):
        key, _sep, value = label_selector.partition('=')
        return [copy.deepcopy(obj) for (stored_kind, stored_namespace, _name), obj in sorted(self.store.items())
                if stored_kind == kind and stored_namespace == namespace
                and (obj['metadata'].get('labels') or {}).get(key) == value]

    def put(self, obj):
        """Store an object as the server holds it."""
        self._version += 1
        obj = copy.deepcopy(obj)
        obj['metadata'].update({'uid': 'uid-%d' % self._version, 'resourceVersion': str(self._version)})
        if obj['kind'] == 'Service':
            obj['spec'].setdefault('clusterIP', '10.8.0.%d' % self._version)
            obj['spec'].setdefault('type', 'ClusterIP')
        key = self._key(obj['kind'], obj['metadata']['name'], obj['metadata'].get('namespace'))
        self.store[key] = obj

    def apply(self, definition, force_conflicts=True):
        assert force_conflicts
        assert self.serves(definition['apiVersion'], definition['kind'])
        self.applied.append((definition['kind'], definition['metadata']['name']))
        existing = self.get(definition['apiVersion'], definition['kind'], definition['metadata']['name'],
                            definition['metadata']['namespace'])
        merged = copy.deepcopy(definition)
        if existing and definition['kind'] == 'Service':
            merged['spec']['clusterIP'] = existing['spec']['clusterIP']
        self.put(merged)
        return self.get(definition['apiVersion'], definition['kind'], definition['metadata']['name'],
                        definition['metadata']['namespace'])

    def delete(self, api_version, kind, name, namespace=None):
        self.deleted.append((kind, name))
        return self.store.pop(self._key(kind, name, namespace), None) is not None


class Clock:
    def __init__(self):
        self.now = START

    def __call__(self):
        return self.now


def module_params(tmp_path, **overrides):
    params = {'name': 'productcatalogservice', 'namespace': 'default', 'service_account': None,
              'labels': {'app': 'productcatalogservice', 'version': 'v1'},
              'ports': [{'number': 3550, 'protocol': 'grpc', 'name': None}], 'network': '', 'address': '10.168.0.20',
              'auto_register': True, 'mode': 'workload_group', 'probe': None, 'state': 'present',
              'bundle_dir': str(tmp_path / 'bundle'), 'cluster_id': None, 'revision': '', 'istio_namespace': 'istio-system',
              'istiod_address': None, 'gateway_service': 'istio-eastwestgateway', 'capture_dns': True,
              'token_duration': 3600, 'token_renew_before': 600, 'wait_timeout': 0}
    params.update(overrides)
    return params
