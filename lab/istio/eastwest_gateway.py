"""The east-west gateway's data plane for VMs: what its Envoy does with the TLS passthrough routes istiod is
exposed by (``samples/multicluster/expose-istiod.yaml``: Gateway ``istiod-gateway``, VirtualService ``istiod-vs``).

The gateway Deployment's pods are KWOK's, so no Envoy runs; the lab listens at the gateway Service's LoadBalancer
address in the cluster's network namespace instead, on each Service port whose target port a Gateway selecting the
gateway's pods serves in TLS ``PASSTHROUGH`` mode and a VirtualService bound to that Gateway routes (``tls`` routes:
match port, first destination), and passes each connection unopened to the destination Service (lab.kubernetes.services).
Without both objects the port is closed, as the gateway's Envoy has no listener for it.
Simplified: SNI matches (``sniHosts``) are not read (the samples match ``*``); weighted destinations take the first;
the cross-network ``AUTO_PASSTHROUGH`` server on 15443 is not modelled (the collection does not open it: its VMs
share the cluster's Istio network and reach pods directly).

The Service's ``spec.loadBalancerSourceRanges`` are applied as GKE applies them: it makes the load balancer's VPC
firewall rules from them, so only those sources reach the Service's ports, and others' packets are dropped
unanswered (https://cloud.google.com/kubernetes-engine/docs/concepts/service-load-balancer-parameters, "Load
balancer source ranges"; none given is 0.0.0.0/0). Here: an nftables table in the cluster's namespace that drops
packets to the address and ports from any other source. Not modelled: the load balancer's type
(``networking.gke.io/load-balancer-type: "Internal"`` or external); the lab's LoadBalancer addresses are all VPC
addresses (lab.kubernetes.load_balancers).
"""

import functools
import ipaddress

from lab.kubernetes.services import TcpRelay
from lab.net import netns
from lab.net.commands import LabCommandError, run

SERVICE = 'istio-eastwestgateway'
NAMESPACE = 'istio-system'
# The cluster namespace's table for the gateway's load balancer firewall.
SOURCE_RANGES_TABLE = 'meshbridge_lb_source_ranges'
_NETWORKING = '/apis/networking.istio.io/v1'


def _lb_address(service):
    ingress = (((service or {}).get('status') or {}).get('loadBalancer') or {}).get('ingress') or []
    return ingress[0].get('ip') if ingress else None


def _qualified(host, namespace):
    return host if '.' in host else '%s.%s.svc.cluster.local' % (host, namespace)


def passthrough_routes(service, gateways, virtual_services):
    """{service port: (destination host, destination port)} for the gateway Service ``service``."""
    selector = (service.get('spec') or {}).get('selector') or {}
    served = {}     # (gateway namespace/name) -> passthrough server ports
    for gateway in gateways:
        wanted = (gateway.get('spec') or {}).get('selector') or {}
        if not wanted or any(selector.get(key) != value for key, value in wanted.items()):
            continue
        ports = {server['port']['number'] for server in gateway['spec'].get('servers') or []
                 if (server.get('tls') or {}).get('mode') == 'PASSTHROUGH' and 'port' in server}
        served['%s/%s' % (gateway['metadata']['namespace'], gateway['metadata']['name'])] = ports
    routes = {}     # gateway (server) port -> destination
    for virtual_service in virtual_services:
        namespace = virtual_service['metadata']['namespace']
        bound = set()
        for name in (virtual_service.get('spec') or {}).get('gateways') or []:
            bound |= served.get(name if '/' in name else '%s/%s' % (namespace, name), set())
        for route in virtual_service['spec'].get('tls') or []:
            destination = ((route.get('route') or [{}])[0]).get('destination') or {}
            if not destination.get('host'):
                continue
            for match in route.get('match') or [{}]:
                for port in ([match['port']] if 'port' in match else sorted(bound)):
                    if port in bound and port not in routes:
                        routes[port] = (_qualified(destination['host'], namespace),
                                        (destination.get('port') or {}).get('number', port))
    return {entry['port']: routes[entry.get('targetPort', entry['port'])]
            for entry in service['spec'].get('ports') or []
            if isinstance(entry.get('targetPort', entry['port']), int) and entry.get('targetPort', entry['port']) in routes}


class EastWestGateway:
    """The gateway of the cluster whose API ``api`` (a lab.kubernetes KubeApi) reads, in network namespace
    ``netns_name``; ``routing`` (lab.kubernetes.services.ServiceRouting) reaches the destinations."""

    def __init__(self, api, routing, netns_name, log=print):
        self.api = api
        self.routing = routing
        self.netns_name = netns_name
        self.log = log
        self.routes = {}
        self._listeners = {}
        self._firewall = None   # (address, ports, ranges) the source-range table holds, or None

    def sync(self):
        """Match the listeners and the firewall to the cluster; True if anything changed."""
        service = self.api.get('/api/v1/namespaces/%s/services/%s' % (NAMESPACE, SERVICE))
        address = _lb_address(service)
        changed = self._apply_source_ranges(address, service)
        routes = {}
        if address:
            routes = passthrough_routes(service, self.api.items(_NETWORKING + '/gateways'),
                                        self.api.items(_NETWORKING + '/virtualservices'))
        self.routes = routes
        wanted = {(address, port) for port in routes}
        for key in [key for key in self._listeners if key not in wanted]:
            self._listeners.pop(key).stop()
            self.log('east-west gateway: closed %s:%d' % key)
            changed = True
        for key in sorted(wanted - set(self._listeners)):
            try:
                self._listeners[key] = TcpRelay(self.netns_name, key[0], key[1], functools.partial(self.connect, key[1]),
                                                'eastwest-%s-%d' % key).start()
            except OSError as exc:
                self.log('east-west gateway: cannot listen on %s:%d: %s' % (key[0], key[1], exc))
                continue
            self.log('east-west gateway: %s:%d passes through to %s:%d' % (key + routes[key[1]]))
            changed = True
        return changed

    def connect(self, port):
        """A connection to the destination routed for gateway port ``port``, or None (the client is closed)."""
        route = self.routes.get(port)
        if route is None:
            return None
        try:
            return self.routing.connect(*route)
        except OSError as exc:
            self.log('east-west gateway: %s:%d unreachable: %s' % (route + (exc,)))
            return None

    def _apply_source_ranges(self, address, service):
        """Make the cluster namespace drop packets to the gateway's address and ports from sources outside its
        ``loadBalancerSourceRanges`` (no table when it has none, or no address); True if that changed."""
        spec = (service or {}).get('spec') or {}
        ranges = tuple(sorted(str(ipaddress.ip_network(text, strict=False))
                              for text in spec.get('loadBalancerSourceRanges') or [] if ':' not in text))
        ports = tuple(sorted({int(port['port']) for port in spec.get('ports') or [] if port.get('port')}))
        wanted = (address, ports, ranges) if address and ranges and ports else None
        if wanted == self._firewall:
            return False
        script = 'table ip %s {}\ndelete table ip %s\n' % (SOURCE_RANGES_TABLE, SOURCE_RANGES_TABLE)
        if wanted:
            script += ('table ip %s {\n  chain input {\n    type filter hook input priority 0; policy accept;\n'
                       '    ip daddr %s tcp dport { %s } ip saddr != { %s } drop\n  }\n}\n'
                       % (SOURCE_RANGES_TABLE, address, ', '.join(map(str, ports)), ', '.join(ranges)))
        try:
            run(netns.command(self.netns_name, ['nft', '-f', '-']), stdin_text=script)
        except LabCommandError as exc:
            self.log('gateway source ranges: cannot apply them in %s: %s' % (self.netns_name, exc))
            return False
        described = '%s:%s from %s only' % (address, ','.join(map(str, ports)), ', '.join(ranges))
        self.log('gateway source ranges: %s' % (described if wanted else 'none'))
        self._firewall = wanted
        return True

    def stop(self):
        for listener in self._listeners.values():
            listener.stop()
        self._listeners.clear()
