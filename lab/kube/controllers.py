"""What a cluster does by itself, reduced to what clients of the lab can observe:

- namespaces: each new namespace gets ServiceAccount ``default`` and ConfigMap ``kube-root-ca.crt``; a terminating
  namespace loses its content, then goes away;
- deployments: no pods run, but status follows what the deployment controller reports: Progressing at once,
  Available with readyReplicas after ``deployment_ready_seconds``;
- services: type LoadBalancer gets ``status.loadBalancer.ingress[0].ip`` from the lab's LB range;
- istiod: once a Deployment ``istiod`` (or ``istiod-<rev>``) in istio-system is Available, ConfigMap
  ``istio-ca-root-cert`` (``root-cert.pem``) appears in every namespace, as istiod's namespace controller writes it:
  the root of secret ``istio-system/cacerts`` if present, else of the self-signed CA istiod keeps in
  ``istio-system/istio-ca-secret``.

Changes arrive from ObjectApi listeners into a queue; one thread works through them and through timers.
"""

import base64
import datetime
import heapq
import ipaddress
import queue
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from lab.kube import errors
from lab.kube.objects import WriteOptions, now_rfc3339

ISTIO_NAMESPACE = 'istio-system'
# Istio's namespace controller leaves these alone.
_ISTIO_IGNORED_NAMESPACES = ('kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage')


def _is_istiod(deployment):
    meta = deployment['metadata']
    name = meta['name']
    return meta.get('namespace') == ISTIO_NAMESPACE and (name == 'istiod' or name.startswith('istiod-'))


def _available(deployment):
    for condition in (deployment.get('status') or {}).get('conditions') or []:
        if condition.get('type') == 'Available':
            return condition.get('status') == 'True'
    return False


def _self_signed_root():
    """A root like the one istiod makes for itself without plugged-in certificates (O=cluster.local)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'cluster.local')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


class Controllers:
    """The controller loop. ``cluster_ca_pem`` goes into kube-root-ca.crt; ``lb_range`` feeds LoadBalancers."""

    def __init__(self, objects, cluster_ca_pem, lb_range, deployment_ready_seconds, log=print):
        self.objects = objects
        self.registry = objects.registry
        self.cluster_ca_pem = cluster_ca_pem
        self.lb_network = ipaddress.ip_network(lb_range)
        self.deployment_ready_seconds = deployment_ready_seconds
        self.log = log
        self._queue = queue.Queue()
        self._timers = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='kube-controllers', daemon=True)
        objects.listeners.append(lambda event, rtype, obj: self._queue.put((event, rtype.key, obj)))

    def start(self):
        self._thread.start()

    def resync(self):
        """Look at every object once, as controllers do when they start (after the server restored its state)."""
        for key in (('', 'namespaces'), ('apps', 'deployments'), ('', 'services')):
            for obj in self.objects.storage.list(key)[0]:
                self._queue.put(('stored', key, obj))

    def stop(self):
        self._stop.set()
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _type(self, group, plural):
        return self.registry.by_key(group, plural)

    def _run(self):
        while not self._stop.is_set():
            timeout = max(0.0, self._timers[0][0] - time.monotonic()) if self._timers else None
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            while self._timers and self._timers[0][0] <= time.monotonic():
                self._safely(heapq.heappop(self._timers)[2])
            if item is not None:
                event, key, obj = item
                self._safely(lambda: self._react(event, key, obj))

    def _safely(self, action):
        try:
            action()
        except errors.ApiError as exc:
            # Objects change under the controllers (deleted namespaces, concurrent writes); the next event retries.
            self.log('controller: %s' % exc.message)

    def _after(self, seconds, action):
        heapq.heappush(self._timers, (time.monotonic() + seconds, id(action), action))

    def _react(self, event, key, obj):
        if event == 'removed':
            return
        if key == ('', 'namespaces'):
            self._namespace(obj)
        elif key == ('apps', 'deployments'):
            self._deployment(obj)
        elif key == ('', 'services'):
            self._service(obj)

    # Namespaces.

    def _ensure(self, group, plural, obj, manager):
        """Create ``obj`` unless it exists; replace its data if it differs."""
        rtype = self._type(group, plural)
        meta = obj['metadata']
        with self.objects.storage.lock:
            current = self.objects.find(rtype, meta.get('namespace'), meta['name'])
            if current is None:
                self.objects.create(rtype, rtype.storage_version, meta.get('namespace'), obj, WriteOptions(manager))
            elif current.get('data') != obj.get('data'):
                current['data'] = obj['data']
                self.objects.update(rtype, rtype.storage_version, meta.get('namespace'), meta['name'], current,
                                    WriteOptions(manager))

    def _namespace(self, namespace):
        name = namespace['metadata']['name']
        if namespace['metadata'].get('deletionTimestamp'):
            self.objects.finish_namespace_deletion(name)
            return
        if self.objects.find(self._type('', 'serviceaccounts'), name, 'default') is None:
            self.objects.create(self._type('', 'serviceaccounts'), 'v1', name,
                                {'metadata': {'name': 'default', 'namespace': name}},
                                WriteOptions('kube-controller-manager'))
        self._ensure('', 'configmaps', {'metadata': {'name': 'kube-root-ca.crt', 'namespace': name},
                                        'data': {'ca.crt': self.cluster_ca_pem}}, 'kube-controller-manager')
        if self._istiod_available():
            self._publish_istio_root(name)

    # Deployments.

    def _deployment(self, deployment):
        meta = deployment['metadata']
        status = deployment.get('status') or {}
        if status.get('observedGeneration') == meta.get('generation'):
            if _is_istiod(deployment) and _available(deployment):
                self._publish_istio_root_everywhere()
            return
        replicas = deployment['spec'].get('replicas', 1)
        progressing = {
            'observedGeneration': meta['generation'], 'replicas': replicas, 'updatedReplicas': replicas,
            'unavailableReplicas': replicas,
            'conditions': [
                self._condition('Available', 'False', 'MinimumReplicasUnavailable',
                                'Deployment does not have minimum availability.'),
                self._condition('Progressing', 'True', 'ReplicaSetUpdated',
                                'ReplicaSet "%s-lab" is progressing.' % meta['name'])]}
        if replicas == 0:
            progressing = self._ready_status(meta, 0)
        self._set_status('apps', 'deployments', deployment, progressing)
        if replicas:
            self._after(self.deployment_ready_seconds, lambda: self._deployment_ready(meta, replicas))

    @staticmethod
    def _condition(kind, status, reason, message):
        stamp = now_rfc3339()
        return {'type': kind, 'status': status, 'lastUpdateTime': stamp, 'lastTransitionTime': stamp,
                'reason': reason, 'message': message}

    def _ready_status(self, meta, replicas):
        status = {'observedGeneration': meta['generation'], 'replicas': replicas, 'updatedReplicas': replicas,
                  'conditions': [
                      self._condition('Available', 'True', 'MinimumReplicasAvailable',
                                      'Deployment has minimum availability.'),
                      self._condition('Progressing', 'True', 'NewReplicaSetAvailable',
                                      'ReplicaSet "%s-lab" has successfully progressed.' % meta['name'])]}
        if replicas:
            status.update(readyReplicas=replicas, availableReplicas=replicas)
        return status

    def _deployment_ready(self, meta, replicas):
        rtype = self._type('apps', 'deployments')
        with self.objects.storage.lock:
            current = self.objects.find(rtype, meta['namespace'], meta['name'])
            if current is None or current['metadata']['uid'] != meta['uid'] or \
                    current['metadata'].get('generation') != meta['generation']:
                return  # deleted or changed since; the newer generation has its own timer
            self._set_status('apps', 'deployments', current, self._ready_status(meta, replicas))

    def _set_status(self, group, plural, obj, status):
        rtype = self._type(group, plural)
        meta = obj['metadata']
        with self.objects.storage.lock:
            current = self.objects.find(rtype, meta.get('namespace'), meta['name'])
            if current is None or current['metadata']['uid'] != meta['uid']:
                return
            current['status'] = status
            self.objects.update(rtype, rtype.storage_version, meta.get('namespace'), meta['name'], current,
                                WriteOptions('kube-controller-manager'), subresource='status')

    # Services.

    def _service(self, service):
        spec = service.get('spec') or {}
        ingress = ((service.get('status') or {}).get('loadBalancer') or {}).get('ingress')
        if spec.get('type') == 'LoadBalancer' and not ingress:
            address = self._free_lb_address(spec.get('loadBalancerIP'))
            self._set_status('', 'services', service, {'loadBalancer': {'ingress': [{'ip': address, 'ipMode': 'VIP'}]}})
        elif spec.get('type') != 'LoadBalancer' and ingress:
            self._set_status('', 'services', service, {'loadBalancer': {}})

    def _free_lb_address(self, wanted):
        used = set()
        for service in self.objects.storage.list(('', 'services'))[0]:
            for entry in ((service.get('status') or {}).get('loadBalancer') or {}).get('ingress') or []:
                used.add(entry.get('ip'))
        if wanted and ipaddress.ip_address(wanted) in self.lb_network and wanted not in used:
            return wanted
        for address in self.lb_network.hosts():
            if str(address) not in used:
                return str(address)
        raise errors.ApiError(500, 'InternalError', 'no free address left in the LoadBalancer range %s' % self.lb_network)

    # Istio's root certificate.

    def _istiod_available(self):
        deployments = self.objects.storage.list(('apps', 'deployments'), ISTIO_NAMESPACE)[0]
        return any(_is_istiod(d) and _available(d) for d in deployments)

    def _istio_root_pem(self):
        secrets = self._type('', 'secrets')
        plugged = self.objects.find(secrets, ISTIO_NAMESPACE, 'cacerts')
        if plugged and 'root-cert.pem' in (plugged.get('data') or {}):
            return base64.b64decode(plugged['data']['root-cert.pem']).decode()
        own = self.objects.find(secrets, ISTIO_NAMESPACE, 'istio-ca-secret')
        if own is None:
            cert_pem, key_pem = _self_signed_root()
            data = {'ca-cert.pem': cert_pem, 'ca-key.pem': key_pem, 'cert-chain.pem': b'', 'key.pem': b'',
                    'root-cert.pem': b''}
            own = {'metadata': {'name': 'istio-ca-secret', 'namespace': ISTIO_NAMESPACE}, 'type': 'istio.io/ca-root',
                   'data': {k: base64.b64encode(v).decode() for k, v in data.items()}}
            self.objects.create(secrets, 'v1', ISTIO_NAMESPACE, own, WriteOptions('pilot-discovery'))
        return base64.b64decode(own['data']['ca-cert.pem']).decode()

    def _publish_istio_root(self, namespace):
        if namespace in _ISTIO_IGNORED_NAMESPACES:
            return
        self._ensure('', 'configmaps', {
            'metadata': {'name': 'istio-ca-root-cert', 'namespace': namespace, 'labels': {'istio.io/config': 'true'}},
            'data': {'root-cert.pem': self._istio_root_pem()}}, 'pilot-discovery')

    def _publish_istio_root_everywhere(self):
        for namespace in self.objects.storage.list(('', 'namespaces'))[0]:
            if not namespace['metadata'].get('deletionTimestamp'):
                self._publish_istio_root(namespace['metadata']['name'])
