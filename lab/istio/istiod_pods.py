"""The real istiod (``pilot-discovery``) for each istiod pod of a lab cluster: the lab plays the kubelet for them.

KWOK runs the cluster's pods on paper only; for the pods of the istiod Deployment ``istioctl install`` made
(label ``app=istiod``, any revision) the lab starts the real program, as the kubelet would start the container:
the container's own ``args`` and ``env`` (``fieldRef`` and ``resourceFieldRef`` resolved against the pod), its
volumes as files under a root of its own (istiod's paths are relative, ``./etc/cacerts``, ``./var/run/secrets/...``,
so it runs with that root as its working directory), inside the cluster's network namespace at the pod's address.

Volumes, as the Deployment mounts them: secret ``cacerts`` (the plug-in CA the collection writes; optional) at
``etc/cacerts``, kept up to date as the kubelet does; the projected ``istio-token`` (audience ``istio-ca``, 43200 s,
bound to the pod) at ``var/run/secrets/tokens/istio-token``. The service account's API token (bound to the pod,
renewed at 80 % of its life as the kubelet renews it) is in ``var/run/secrets/kubernetes.io/serviceaccount/token``.

The mesh config: istiod reads ConfigMap ``istio[-<revision>]`` itself unless ``./etc/istio/config/mesh`` exists (as
it did when istiod's chart mounted that ConfigMap there). The lab writes that file from the ConfigMap, kept in step,
with ``mesh_overrides`` applied: what the VMs' upstream Envoy cannot take (docs/dev/lab.md, "Istio").

Differences from the pod, each because the pod's network is not a network namespace of its own:
- ``KUBECONFIG`` names a kubeconfig for in-cluster access (the ``kubernetes`` Service's ClusterIP, the cluster's
  CA, the token file above) instead of the pod's optional ``istio-kubeconfig`` secret, which istiod would otherwise
  fall back from to in-cluster config that reads the environment a kubelet sets;
- its listeners are bound to the pod's address (``--httpAddr`` and the four others) rather than every address, so
  two revisions' istiods share the cluster's namespace;
- readiness is KWOK's (the pod is Ready when KWOK says so), not istiod's ``/ready`` probe.
A program that exits is started again after a back-off, as the kubelet restarts a container.
"""

import base64
import os
import shutil
import time

from lab.kubernetes import binaries, pod_spec
from lab.kubernetes.client import KubeApi, KubeError
from lab.kubernetes.control_plane import kubeconfig_text
from lab.kubernetes.processes import Program
from lab.net import netns

NAMESPACE = 'istio-system'
CONTAINER = 'discovery'
CA_SECRET = 'cacerts'
# istiod's listeners (pilot/cmd/pilot-discovery/app/cmd.go), all bound to the pod's address.
LISTENERS = (('--httpAddr', 8080), ('--httpsAddr', 15017), ('--grpcAddr', 15010), ('--secureGRPCAddr', 15012),
             ('--monitoringAddr', 15014))
_TOKEN_SECONDS = 3600
_ISTIO_TOKEN_SECONDS = 43200
_RESTART_BACKOFF = (1, 2, 5, 10, 20)


def _write(path, data, mode=0o600):
    """Write ``data`` (bytes) to ``path`` when it differs, atomically as the kubelet swaps a volume; True if it did."""
    try:
        with open(path, 'rb') as handle:
            if handle.read() == data:
                return False
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open(path + '.new', 'wb', opener=lambda p, flags: os.open(p, flags, mode)) as handle:
        handle.write(data)
    os.replace(path + '.new', path)
    return True


class _Pod:
    """One istiod pod's files and program."""

    def __init__(self, pod, root, log_path):
        self.name = pod['metadata']['name']
        self.uid = pod['metadata']['uid']
        self.address = pod['status']['podIP']
        self.service_account = pod['spec'].get('serviceAccountName') or 'default'
        self.spec = pod
        self.root = root
        self.log_path = log_path
        self.program = None
        self.token_renew_at = 0.0
        self.restarts = 0
        self.restart_at = 0.0


class IstiodPods:
    """Runs pilot-discovery for the istiod pods of the cluster whose API is ``plane`` (a lab.kubernetes
    ControlPlane), in ``network`` (a lab.net ClusterNetwork: its namespace, pod addresses and ``api_address``, the
    ``kubernetes`` Service's ClusterIP routed to the API server); files under ``state_dir``."""

    def __init__(self, plane, network, api_address, state_dir, prefix, extra_env=None, mesh_overrides=None,
                 log=print):
        self.plane = plane
        self.api = KubeApi(plane.url, plane.ca_path, plane.token)
        self.network = network
        self.api_address = api_address
        self.state_dir = state_dir
        self.prefix = prefix
        self.extra_env = dict(extra_env or {})
        self.mesh_overrides = mesh_overrides
        self.log = log
        self._pods = {}

    # -- the loop's step ---------------------------------------------------------------------------------------
    def sync(self):
        """Start, renew, restart and stop to match the cluster's running istiod pods; True if anything changed."""
        wanted = {pod['metadata']['uid']: pod for pod in self.api.items(
            '/api/v1/namespaces/%s/pods?labelSelector=app%%3Distiod' % NAMESPACE)
            if pod.get('status', {}).get('phase') == 'Running' and pod['status'].get('podIP')
            and not pod['metadata'].get('deletionTimestamp')}
        changed = False
        mesh_files = {}
        for uid in [uid for uid in self._pods if uid not in wanted]:
            self._stop(self._pods.pop(uid))
            changed = True
        ca_files = self._ca_files()
        for uid, pod in wanted.items():
            running = self._pods.get(uid)
            if running is None:
                running = self._pods[uid] = _Pod(pod, os.path.join(self.state_dir, pod['metadata']['name']),
                                                 os.path.join(self.state_dir, 'istiod-%s.log' % pod['metadata']['name']))
                changed = True
            changed = self._mount(running, ca_files, mesh_files) or changed
            changed = self._keep_running(running) or changed
        return changed

    def stop(self):
        for pod in self._pods.values():
            self._stop(pod)
        self._pods.clear()
        self.api.close()

    def pods(self):
        """name -> (address, running) of the istiod pods the lab runs."""
        return {pod.name: (pod.address, bool(pod.program and pod.program.running())) for pod in self._pods.values()}

    # -- volumes -----------------------------------------------------------------------------------------------
    def _ca_files(self):
        secret = self.api.get('/api/v1/namespaces/%s/secrets/%s' % (NAMESPACE, CA_SECRET))
        if secret is None:
            return None
        return {key: base64.b64decode(value) for key, value in (secret.get('data') or {}).items()}

    def _mesh_file(self, pod, cache):
        """The mesh config file's bytes for ``pod``'s revision (None without its ConfigMap); ``cache`` per round."""
        container = next(c for c in pod.spec['spec']['containers'] if c['name'] == CONTAINER)
        revision = next((e.get('value') for e in container.get('env') or [] if e['name'] == 'REVISION'), 'default')
        name = 'istio' if revision in ('', 'default') else 'istio-' + revision
        if name not in cache:
            config_map = self.api.get('/api/v1/namespaces/%s/configmaps/%s' % (NAMESPACE, name))
            text = ((config_map or {}).get('data') or {}).get('mesh')
            if text is not None and self.mesh_overrides:
                text = self.mesh_overrides(text)
            cache[name] = None if text is None else text.encode()
        return cache[name]

    def _mount(self, pod, ca_files, mesh_files):
        changed = False
        mesh = self._mesh_file(pod, mesh_files)
        mesh_path = os.path.join(pod.root, 'etc', 'istio', 'config', 'mesh')
        if mesh is not None:
            changed = _write(mesh_path, mesh, 0o644) or changed
        elif os.path.exists(mesh_path):
            os.unlink(mesh_path)
            changed = True
        ca_dir = os.path.join(pod.root, 'etc', 'cacerts')
        if ca_files is None:
            if os.path.isdir(ca_dir):
                shutil.rmtree(ca_dir)
                changed = True
        else:
            for key, data in ca_files.items():
                changed = _write(os.path.join(ca_dir, key), data) or changed
            for stale in set(os.listdir(ca_dir)) - set(ca_files):
                os.unlink(os.path.join(ca_dir, stale))
        if time.time() >= pod.token_renew_at:
            self._renew_tokens(pod)
        return changed

    def _token(self, pod, audiences, seconds):
        return pod_spec.bound_token(self.api, NAMESPACE, pod.service_account, pod.name, pod.uid, audiences, seconds)

    def _renew_tokens(self, pod):
        secrets_dir = os.path.join(pod.root, 'var', 'run', 'secrets')
        _write(os.path.join(secrets_dir, 'tokens', 'istio-token'),
               self._token(pod, ['istio-ca'], _ISTIO_TOKEN_SECONDS))
        account_dir = os.path.join(secrets_dir, 'kubernetes.io', 'serviceaccount')
        _write(os.path.join(account_dir, 'token'), self._token(pod, None, _TOKEN_SECONDS))
        with open(self.plane.ca_path, 'rb') as handle:
            _write(os.path.join(account_dir, 'ca.crt'), handle.read())
        _write(os.path.join(account_dir, 'namespace'), NAMESPACE.encode())
        pod.token_renew_at = time.time() + 0.8 * _TOKEN_SECONDS

    def _kubeconfig(self, pod):
        account_dir = os.path.join(pod.root, 'var', 'run', 'secrets', 'kubernetes.io', 'serviceaccount')
        path = os.path.join(pod.root, 'kubeconfig')
        text = kubeconfig_text('https://%s:443' % self.api_address, os.path.join(account_dir, 'ca.crt'), None,
                               token_file=os.path.join(account_dir, 'token'))
        _write(path, text.encode())
        return path

    # -- the container -----------------------------------------------------------------------------------------
    def _environment(self, pod, container):
        fields = {'metadata.name': pod.name, 'metadata.namespace': NAMESPACE,
                  'spec.serviceAccountName': pod.service_account, 'status.podIP': pod.address,
                  'spec.nodeName': pod.spec['spec'].get('nodeName', '')}
        env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'HOME': pod.root}
        for item in container.get('env') or []:
            source = item.get('valueFrom') or {}
            if 'fieldRef' in source:
                env[item['name']] = fields.get(source['fieldRef']['fieldPath'], '')
            elif 'resourceFieldRef' in source:
                # No limit set: the kubelet gives the node's allocatable CPUs (this machine's).
                env[item['name']] = str(os.cpu_count() or 1)
            elif source:
                raise KubeError(400, 'istiod env %s: only fieldRef and resourceFieldRef are modelled' % item['name'])
            else:
                env[item['name']] = item.get('value', '')
        env['KUBECONFIG'] = self._kubeconfig(pod)
        env.update(self.extra_env)
        return env

    def _keep_running(self, pod):
        if pod.program is not None and pod.program.running():
            return False
        if pod.program is not None:
            self.log('istiod %s exited (%s); restarting: %s'
                     % (pod.name, pod.program.process.returncode, pod.program.log_tail(5).strip()))
            pod.restart_at = time.time() + _RESTART_BACKOFF[min(pod.restarts, len(_RESTART_BACKOFF) - 1)]
            pod.restarts += 1
            pod.program = None
        if time.time() < pod.restart_at:
            return False
        container = next(c for c in pod.spec['spec']['containers'] if c['name'] == CONTAINER)
        argv = [binaries.path('pilot-discovery')] + list(container.get('args') or [])
        for flag, port in LISTENERS:
            argv += [flag, '%s:%d' % (pod.address, port)]
        self.network.add_pod_address(pod.address)
        pod.program = Program('istiod-' + pod.name, netns.command(self.network.netns, argv), pod.log_path,
                              self.prefix, env=self._environment(pod, container), cwd=pod.root)
        self.log('istiod %s: pilot-discovery started at %s in %s' % (pod.name, pod.address, self.network.netns))
        return True

    def _stop(self, pod):
        if pod.program is not None:
            pod.program.stop()
        self.network.remove_pod_address(pod.address)
        shutil.rmtree(pod.root, ignore_errors=True)
        self.log('istiod %s: stopped' % pod.name)
