"""Runs a lab cluster's istiod end where VMs reach it: the east-west gateway's LoadBalancer address, port 15012,
inside the cluster's network namespace (the tutorial exposes istiod to VMs through that gateway).

It runs while the cluster has an istiod Deployment in istio-system and Service ``istio-eastwestgateway`` has an
address, and moves or stops when they change; it reads the cluster over HTTPS like any client, polling with
backoff. While it serves, it also does what istiod's namespace controller does: ConfigMap ``istio-ca-root-cert``
(the mesh's root certificate) in every namespace but the system ones.
Simplified: the gateway's Envoy is not modelled, so port 15012 answers whether or not ``expose-istiod.yaml``'s
Gateway exists.

The gateway Service's ``spec.loadBalancerSourceRanges`` are applied as GKE applies them: it makes the load balancer's
VPC firewall rules from them, so only those sources reach the Service's ports, and others' packets are dropped
unanswered (https://cloud.google.com/kubernetes-engine/docs/concepts/service-load-balancer-parameters, "Load
balancer source ranges"; none given is 0.0.0.0/0). Here: an nftables table in the cluster's namespace that drops
packets to the address and ports from any other source. Not modelled: the load balancer's type
(``networking.gke.io/load-balancer-type: "Internal"`` or external); the lab's LoadBalancer addresses are all VPC
addresses (lab.kubernetes.load_balancers), and only this gateway's ranges are applied.
"""

import ipaddress
import threading

from lab.istio.istiod.ca import CaError
from lab.istio.istiod.kube import ISTIO_NAMESPACE, KubeApi, KubeError
from lab.istio.istiod.server import PORT, Istiod, StartError
from lab.net import netns
from lab.net.commands import LabCommandError, run

# The cluster namespace's table for the gateway's load balancer firewall.
SOURCE_RANGES_TABLE = 'meshbridge_lb_source_ranges'

GATEWAY_SERVICE = 'istio-eastwestgateway'
ROOT_CONFIG_MAP = 'istio-ca-root-cert'
# istiod's namespace controller leaves these alone (Istio's inject.IgnoredNamespaces).
_IGNORED_NAMESPACES = ('kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage')
_MIN_POLL, _MAX_POLL = 0.2, 2.0


def _is_istiod(name):
    return name == 'istiod' or name.startswith('istiod-')


class ClusterIstiod:
    """The istiod end of the cluster whose API is ``cluster`` (anything with ``url``, ``ca_path``, ``token``: a
    lab.kubernetes ControlPlane), in network namespace ``netns_name``."""

    def __init__(self, cluster, netns_name, log=print, grace_seconds=None):
        self.cluster = cluster
        self.kube = KubeApi(cluster.url, cluster.ca_path, cluster.token)
        self.netns_name = netns_name
        self.log = log
        self.grace_seconds = grace_seconds
        self.istiod = None
        self._serving_at = None
        self._firewall = None           # (address, ports, ranges) the source-range table holds, or None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name='istiod-supervisor', daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _wanted_address(self):
        deployments = self.kube.items('/apis/apps/v1/namespaces/%s/deployments' % ISTIO_NAMESPACE)
        service = self.kube.get('/api/v1/namespaces/%s/services/%s' % (ISTIO_NAMESPACE, GATEWAY_SERVICE))
        ingress = (((service or {}).get('status') or {}).get('loadBalancer') or {}).get('ingress') or []
        address = ingress[0].get('ip') if ingress else None
        self._apply_source_ranges(address, service)
        if not any(_is_istiod(d['metadata']['name']) for d in deployments):
            return None
        return address

    def _apply_source_ranges(self, address, service):
        """Make the cluster namespace drop packets to the gateway's address and ports from sources outside its
        ``loadBalancerSourceRanges`` (no table when it has none, or no address)."""
        spec = (service or {}).get('spec') or {}
        ranges = tuple(sorted(str(ipaddress.ip_network(text, strict=False))
                              for text in spec.get('loadBalancerSourceRanges') or [] if ':' not in text))
        ports = tuple(sorted({int(port['port']) for port in spec.get('ports') or [] if port.get('port')}))
        wanted = (address, ports, ranges) if address and ranges and ports else None
        if wanted == self._firewall:
            return
        script = 'table ip %s {}\ndelete table ip %s\n' % (SOURCE_RANGES_TABLE, SOURCE_RANGES_TABLE)
        if wanted:
            script += ('table ip %s {\n  chain input {\n    type filter hook input priority 0; policy accept;\n'
                       '    ip daddr %s tcp dport { %s } ip saddr != { %s } drop\n  }\n}\n'
                       % (SOURCE_RANGES_TABLE, address, ', '.join(map(str, ports)), ', '.join(ranges)))
        try:
            run(netns.command(self.netns_name, ['nft', '-f', '-']), stdin_text=script)
        except LabCommandError as exc:
            self.log('gateway source ranges: cannot apply them in %s: %s' % (self.netns_name, exc))
            return
        described = '%s:%s from %s only' % (address, ','.join(map(str, ports)), ', '.join(ranges))
        self.log('gateway source ranges: %s' % (described if wanted else 'none'))
        self._firewall = wanted

    def _run(self):
        delay = _MIN_POLL
        while not self._stopping.wait(delay):
            try:
                changed = self._reconcile()
                if self.istiod is not None:
                    changed = self._publish_root() or changed
            except (KubeError, OSError) as exc:
                self.log('istiod supervisor: %s' % exc)
                changed = False
            # Poll fast while things change, back off while they do not.
            delay = _MIN_POLL if changed else min(delay * 1.5, _MAX_POLL)

    def _publish_root(self):
        """istio-ca-root-cert in every namespace, with the root istiod signs under; True if it wrote any."""
        root = self.istiod.ca.root_pem
        wrote = False
        for namespace in self.kube.items('/api/v1/namespaces'):
            name = namespace['metadata']['name']
            if name in _IGNORED_NAMESPACES or namespace['metadata'].get('deletionTimestamp'):
                continue
            path = '/api/v1/namespaces/%s/configmaps' % name
            current = self.kube.get('%s/%s' % (path, ROOT_CONFIG_MAP))
            wanted = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'data': {'root-cert.pem': root}, 'metadata': {
                'name': ROOT_CONFIG_MAP, 'namespace': name, 'labels': {'istio.io/config': 'true'}}}
            try:
                if current is None:
                    self.kube.create(path, wanted)
                elif (current.get('data') or {}) != wanted['data']:
                    wanted['metadata']['resourceVersion'] = current['metadata']['resourceVersion']
                    self.kube.replace('%s/%s' % (path, ROOT_CONFIG_MAP), wanted)
                else:
                    continue
            except KubeError as exc:
                if exc.code not in (403, 404, 409):     # a namespace being deleted, or a race: next round
                    raise
                continue
            wrote = True
        return wrote

    def _reconcile(self):
        """Serve where the gateway's address says; True if that changed."""
        wanted = self._wanted_address()
        if wanted == self._serving_at:
            return False
        self._stop_istiod()
        if wanted is None:
            return True
        try:
            listener = netns.listen_tcp(self.netns_name, wanted, PORT, backlog=64)
        except OSError as exc:
            self.log('istiod: cannot listen on %s:%d in %s: %s' % (wanted, PORT, self.netns_name, exc))
            return False
        api = KubeApi(self.cluster.url, self.cluster.ca_path, self.cluster.token)
        options = {} if self.grace_seconds is None else {'grace_seconds': self.grace_seconds}
        istiod = Istiod(api, listener, log=self.log, **options)
        try:
            istiod.start()
        except (StartError, CaError) as exc:
            # Not ready yet (no CA secret, say): the next poll tries again.
            self.log('istiod: not serving at %s:%d yet: %s' % (wanted, PORT, exc))
            istiod.stop()
            return False
        self.istiod, self._serving_at = istiod, wanted
        return True

    def _stop_istiod(self):
        if self.istiod is not None:
            self.istiod.stop()
            self.log('istiod: stopped serving at %s:%d' % (self._serving_at, PORT))
        self.istiod, self._serving_at = None, None

    def stop(self):
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self._stop_istiod()
        self.kube.close()
