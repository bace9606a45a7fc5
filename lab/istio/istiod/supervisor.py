"""Runs a lab cluster's istiod end where VMs reach it: the east-west gateway's LoadBalancer address, port 15012,
inside the cluster's network namespace (the tutorial exposes istiod to VMs through that gateway).

It runs while the cluster has an istiod Deployment in istio-system and Service ``istio-eastwestgateway`` has an
address, and moves or stops when they change. Changes come from the API server's in-process listeners; istiod
itself reads the cluster over HTTPS like any client. Simplified: the gateway's Envoy is not modelled, so port
15012 answers whether or not ``expose-istiod.yaml``'s Gateway exists.
"""

import threading

from lab.istio.istiod.ca import CaError
from lab.istio.istiod.kube import ISTIO_NAMESPACE, KubeApi
from lab.istio.istiod.server import PORT, Istiod, StartError
from lab.net import netns

GATEWAY_SERVICE = 'istio-eastwestgateway'
_WATCHED = (('', 'services'), ('apps', 'deployments'), ('', 'secrets'), ('', 'configmaps'))


def _is_istiod(name):
    return name == 'istiod' or name.startswith('istiod-')


class ClusterIstiod:
    """The istiod end of the cluster served by ``kube_server`` (a lab.kube KubeApiServer), in namespace ``netns_name``."""

    def __init__(self, kube_server, netns_name, log=None, grace_seconds=None):
        self.kube_server = kube_server
        self.netns_name = netns_name
        self.log = log or kube_server.log
        self.grace_seconds = grace_seconds
        self.istiod = None
        self._serving_at = None
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name='istiod-supervisor', daemon=True)

    def start(self):
        self.kube_server.objects.listeners.append(self._changed)
        self._thread.start()
        self._wake.set()
        return self

    def _changed(self, _event, rtype, obj):
        # Called in the API server's write path: only note that something istiod depends on changed.
        if rtype.key in _WATCHED and (obj.get('metadata') or {}).get('namespace') == ISTIO_NAMESPACE:
            self._wake.set()

    def _wanted_address(self):
        objects, registry = self.kube_server.objects, self.kube_server.registry
        deployments = objects.storage.list(('apps', 'deployments'), ISTIO_NAMESPACE)[0]
        if not any(_is_istiod(d['metadata']['name']) for d in deployments):
            return None
        service = objects.find(registry.by_key('', 'services'), ISTIO_NAMESPACE, GATEWAY_SERVICE)
        ingress = (((service or {}).get('status') or {}).get('loadBalancer') or {}).get('ingress') or []
        return ingress[0].get('ip') if ingress else None

    def _run(self):
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            self._reconcile()

    def _reconcile(self):
        wanted = self._wanted_address()
        if wanted == self._serving_at:
            return
        self._stop_istiod()
        if wanted is None:
            return
        try:
            listener = netns.listen_tcp(self.netns_name, wanted, PORT, backlog=64)
        except OSError as exc:
            self.log('istiod: cannot listen on %s:%d in %s: %s' % (wanted, PORT, self.netns_name, exc))
            return
        api = KubeApi(self.kube_server.url, self.kube_server.ca_path, self.kube_server.token)
        options = {} if self.grace_seconds is None else {'grace_seconds': self.grace_seconds}
        istiod = Istiod(api, listener, log=self.log, **options)
        try:
            istiod.start()
        except (StartError, CaError) as exc:
            # Not ready yet (no CA secret, say): the next change in istio-system tries again.
            self.log('istiod: not serving at %s:%d yet: %s' % (wanted, PORT, exc))
            istiod.stop()
            return
        self.istiod, self._serving_at = istiod, wanted

    def _stop_istiod(self):
        if self.istiod is not None:
            self.istiod.stop()
            self.log('istiod: stopped serving at %s:%d' % (self._serving_at, PORT))
        self.istiod, self._serving_at = None, None

    def stop(self):
        if self._changed in self.kube_server.objects.listeners:
            self.kube_server.objects.listeners.remove(self._changed)
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self._stop_istiod()
