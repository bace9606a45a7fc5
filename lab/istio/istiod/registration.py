"""WorkloadEntry auto-registration, as istiod's autoregistration controller does it for VMs.

On a stream with ``AUTO_REGISTER_GROUP``: WorkloadEntry ``<group>-<ip>[-<network>]`` from the group's template,
marked connected (``istio.io/workloadController``, ``istio.io/connectedAt``). When the last stream of that entry
ends: ``istio.io/disconnectedAt``, and deletion once the grace period (PILOT_WORKLOAD_ENTRY_GRACE_PERIOD, 10 s)
passes without a reconnect. Health reports set ``status.conditions[type=Healthy]`` on entries with health checks
enabled (``proxy.istio.io/health-checks-enabled``: the group has a probe, or the proxy's config a readiness probe).
"""

import datetime
import threading

from lab.istio.istiod.kube import NETWORKING, KubeError

GROUP_ANNOTATION = 'istio.io/autoRegistrationGroup'
CONTROLLER_ANNOTATION = 'istio.io/workloadController'
CONNECTED_ANNOTATION = 'istio.io/connectedAt'
DISCONNECTED_ANNOTATION = 'istio.io/disconnectedAt'
HEALTH_CHECKS_ANNOTATION = 'proxy.istio.io/health-checks-enabled'
DEFAULT_GRACE_SECONDS = 10.0


class RegistrationError(Exception):
    """The stream cannot be accepted; ``code`` is the gRPC status name istiod answers with."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _timestamp(moment):
    """RFC 3339 with sub-second digits, as istiod writes these annotations (Go's RFC3339Nano)."""
    return moment.strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def _parse(text):
    try:
        return datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None


class Proxy:
    """What istiod knows of a connected VM proxy: from its node and its verified certificate identity."""

    def __init__(self, node_id, namespace, service_account, metadata):
        self.id = node_id
        self.namespace = namespace
        self.service_account = service_account
        self.metadata = metadata
        ips = metadata.get('INSTANCE_IPS') or node_id.split('~')[1]
        self.ip = ips.split(',')[0].strip()
        self.network = metadata.get('NETWORK') or ''
        self.group = metadata.get('AUTO_REGISTER_GROUP') or ''
        self.labels = dict(metadata.get('LABELS') or {})

    def entry_name(self):
        parts = [self.group, self.ip.replace(':', '-')] + ([self.network] if self.network else [])
        return '-'.join(parts)[-253:]


class WorkloadEntries:
    """Creates, marks and cleans up auto-registered WorkloadEntries through the cluster's API."""

    def __init__(self, kube, instance_id, grace_seconds=DEFAULT_GRACE_SECONDS):
        self.kube = kube
        self.instance_id = instance_id
        self.grace_seconds = grace_seconds
        self._lock = threading.Lock()
        self._connections = {}            # (namespace, entry) -> number of open streams
        self._timers = set()

    def _path(self, namespace, name=''):
        return '%s/namespaces/%s/workloadentries%s' % (NETWORKING, namespace, '/' + name if name else '')

    def _check_control(self, proxy, entry):
        """istiod's ensureProxyCanControlEntry: the stream's identity must be the entry's."""
        service_account = (entry.get('spec') or {}).get('serviceAccount')
        if entry['metadata']['namespace'] != proxy.namespace:
            raise RegistrationError('UNKNOWN', 'registration of WorkloadEntry namespace mismatch: "%s" vs "%s"' % (
                proxy.namespace, entry['metadata']['namespace']))
        if service_account and service_account != proxy.service_account:
            raise RegistrationError('UNKNOWN', 'registration of WorkloadEntry service account mismatch: "%s" vs "%s"'
                                    % (proxy.service_account, service_account))

    def connect(self, proxy, connected_at):
        """Register ``proxy``; returns the entry's name (None when the proxy does not auto-register)."""
        if not proxy.group:
            return None
        name = proxy.entry_name()
        existing = self.kube.get(self._path(proxy.namespace, name))
        if existing is None:
            group = self.kube.get('%s/namespaces/%s/workloadgroups/%s' % (NETWORKING, proxy.namespace, proxy.group))
            if group is None:
                raise RegistrationError('FAILED_PRECONDITION', 'auto-registration WorkloadEntry of %s failed: cannot '
                                        'find WorkloadGroup %s/%s' % (proxy.id, proxy.namespace, proxy.group))
            entry = self._entry_from_group(name, proxy, group)
            self._check_control(proxy, entry)
            self._mark_connected(entry, connected_at)
            try:
                self.kube.create(self._path(proxy.namespace), entry)
            except KubeError as exc:
                raise RegistrationError('UNKNOWN', 'auto-registration WorkloadEntry of %s failed: error creating '
                                        'WorkloadEntry: %s' % (proxy.id, exc)) from None
        else:
            self._check_control(proxy, existing)
            self._mark_connected(existing, connected_at)
            try:
                self.kube.replace(self._path(proxy.namespace, name), existing)
            except KubeError as exc:
                raise RegistrationError('UNKNOWN', 'failed updating WorkloadEntry %s/%s err: %s' % (
                    proxy.namespace, name, exc)) from None
        with self._lock:
            key = (proxy.namespace, name)
            self._connections[key] = self._connections.get(key, 0) + 1
        return name

    @staticmethod
    def _entry_from_group(name, proxy, group):
        spec = group.get('spec') or {}
        entry_spec = dict(spec.get('template') or {})
        entry_spec['address'] = proxy.ip
        # Labels: template < group metadata < the proxy's own (node metadata LABELS).
        labels = dict(entry_spec.get('labels') or {})
        labels.update((spec.get('metadata') or {}).get('labels') or {})
        labels.update(proxy.labels)
        if labels:
            entry_spec['labels'] = labels
        if proxy.network:
            entry_spec['network'] = proxy.network
        annotations = {GROUP_ANNOTATION: group['metadata']['name']}
        annotations.update((spec.get('metadata') or {}).get('annotations') or {})
        proxy_config = proxy.metadata.get('PROXY_CONFIG') or {}
        if spec.get('probe') or (isinstance(proxy_config, dict) and proxy_config.get('readinessProbe')):
            annotations[HEALTH_CHECKS_ANNOTATION] = 'true'
        return {
            'apiVersion': 'networking.istio.io/v1', 'kind': 'WorkloadEntry',
            'metadata': {
                'name': name, 'namespace': proxy.namespace, 'labels': labels, 'annotations': annotations,
                'ownerReferences': [{'apiVersion': group.get('apiVersion', 'networking.istio.io/v1'),
                                     'kind': 'WorkloadGroup', 'name': group['metadata']['name'],
                                     'uid': group['metadata']['uid'], 'controller': True}],
            },
            'spec': entry_spec,
        }

    def _mark_connected(self, entry, connected_at):
        annotations = entry['metadata'].setdefault('annotations', {})
        annotations[CONTROLLER_ANNOTATION] = self.instance_id
        annotations[CONNECTED_ANNOTATION] = _timestamp(connected_at)
        annotations.pop(DISCONNECTED_ANNOTATION, None)

    def disconnect(self, proxy, name, connected_at):
        """The stream that registered ``name`` ended: mark the entry, and delete it after the grace period."""
        with self._lock:
            key = (proxy.namespace, name)
            self._connections[key] -= 1
            if self._connections[key] > 0:
                return          # another stream of the same workload is still up
            del self._connections[key]
        entry = self.kube.get(self._path(proxy.namespace, name))
        if entry is None:
            return
        annotations = entry['metadata'].get('annotations') or {}
        latest = _parse(annotations.get(CONNECTED_ANNOTATION))
        if annotations.get(CONTROLLER_ANNOTATION) != self.instance_id or (latest and latest > connected_at):
            return              # it reconnected meanwhile (here or to another istiod)
        annotations.pop(CONNECTED_ANNOTATION, None)
        annotations[DISCONNECTED_ANNOTATION] = _timestamp(_now())
        try:
            self.kube.replace(self._path(proxy.namespace, name), entry)
        except KubeError:
            return              # changed under us: whoever changed it owns it now
        timer = threading.Timer(self.grace_seconds, self._clean_up, (proxy.namespace, name))
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def _clean_up(self, namespace, name):
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive() and t is not threading.current_thread()}
        entry = self.kube.get(self._path(namespace, name))
        if entry is None:
            return
        annotations = entry['metadata'].get('annotations') or {}
        disconnected = _parse(annotations.get(DISCONNECTED_ANNOTATION))
        if annotations.get(CONNECTED_ANNOTATION) or disconnected is None:
            return
        if (_now() - disconnected).total_seconds() < self.grace_seconds:
            return
        self.kube.delete(self._path(namespace, name), {'resourceVersion': entry['metadata']['resourceVersion']})

    def report_health(self, proxy, name, healthy, message):
        """A health report from the proxy of ``name``: its Healthy condition, when health checks are enabled."""
        entry = self.kube.get(self._path(proxy.namespace, name))
        if entry is None or (entry['metadata'].get('annotations') or {}).get(HEALTH_CHECKS_ANNOTATION) != 'true':
            return False
        stamp = _timestamp(_now())
        condition = {'type': 'Healthy', 'status': 'True' if healthy else 'False', 'lastProbeTime': stamp,
                     'lastTransitionTime': stamp}
        if not healthy:
            condition['message'] = message
        status = entry.setdefault('status', {})
        status['conditions'] = [c for c in status.get('conditions') or [] if c.get('type') != 'Healthy'] + [condition]
        self.kube.replace(self._path(proxy.namespace, name) + '/status', entry)
        return True

    def stop(self):
        with self._lock:
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()
