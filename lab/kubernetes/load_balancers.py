"""GKE's service controller, as far as the lab needs it: a LoadBalancer Service gets an address.

Stands in for the part of GKE's cloud-controller-manager that provisions a Google Cloud load balancer for each
Service of type LoadBalancer and writes its address into ``status.loadBalancer.ingress``. Nothing real can do that
here, so this controller watches the real API server and, for each such Service, takes an address from the
cluster's slice of the lab's LB range (``spec.loadBalancerIP`` when it is free there), makes it real
(``on_address``: the lab holds it in the cluster's network namespace) and then publishes it. A Service that stops
being a LoadBalancer, or is deleted, gives its address back (``on_release``). Simplified: no health checks,
forwarding rules or firewall rules; the address is the cluster's own, not a Google front end's.
"""

import ipaddress
import logging
import threading
import time

import kubernetes
import urllib3

LOG = logging.getLogger('lab.kubernetes.load_balancers')


def _ingress_ip(service):
    ingress = ((service.status and service.status.load_balancer) and service.status.load_balancer.ingress) or []
    return ingress[0].ip if ingress else None


class LoadBalancerController:

    def __init__(self, kubeconfig, lb_range, on_address=None, on_release=None):
        self._client = kubernetes.config.new_client_from_config(config_file=kubeconfig)
        self._core = kubernetes.client.CoreV1Api(self._client)
        self._network = ipaddress.ip_network(lb_range)
        self._on_address = on_address or (lambda address: None)
        self._on_release = on_release or (lambda address: None)
        self._held = {}                 # (namespace, name) -> address
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name='lab-load-balancers', daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()
        self._thread.join(timeout=10)
        self._client.close()

    def _run(self):
        delay = 0.2
        while not self._stopping.is_set():
            try:
                listed = self._core.list_service_for_all_namespaces()
                for service in listed.items:
                    self._reconcile(service)
                self._forget_missing({(s.metadata.namespace, s.metadata.name) for s in listed.items})
                self._watch(listed.metadata.resource_version)
                delay = 0.2
            except (kubernetes.client.ApiException, urllib3.exceptions.HTTPError, OSError) as error:
                if self._stopping.is_set():
                    return
                LOG.warning('LoadBalancer controller: %s; listing again in %.1f s', error, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5)

    def _watch(self, resource_version):
        # Short watches so that stop() is honoured within seconds.
        while not self._stopping.is_set():
            stream = kubernetes.watch.Watch().stream(
                self._core.list_service_for_all_namespaces, resource_version=resource_version, timeout_seconds=2,
                _request_timeout=10)
            for event in stream:
                service = event['object']
                resource_version = service.metadata.resource_version
                if event['type'] == 'DELETED':
                    self._release((service.metadata.namespace, service.metadata.name))
                else:
                    self._reconcile(service)

    def _reconcile(self, service):
        key = (service.metadata.namespace, service.metadata.name)
        published = _ingress_ip(service)
        if service.spec.type != 'LoadBalancer':
            if published:
                self._set_ingress(service, [])
            self._release(key)
            return
        if published:
            self._held[key] = published
            return
        address = self._free_address(service.spec.load_balancer_ip)
        self._on_address(address)
        self._held[key] = address
        self._set_ingress(service, [{'ip': address, 'ipMode': 'VIP'}])
        LOG.info('LoadBalancer %s/%s: %s', key[0], key[1], address)

    def _free_address(self, wanted):
        used = set(self._held.values())
        if wanted and ipaddress.ip_address(wanted) in self._network and wanted not in used:
            return wanted
        for address in self._network.hosts():
            if str(address) not in used:
                return str(address)
        raise kubernetes.client.ApiException(status=0, reason='no free address in %s' % self._network)

    def _set_ingress(self, service, ingress):
        self._core.patch_namespaced_service_status(
            service.metadata.name, service.metadata.namespace, {'status': {'loadBalancer': {'ingress': ingress}}})

    def _release(self, key):
        address = self._held.pop(key, None)
        if address is not None and address not in self._held.values():
            self._on_release(address)

    def _forget_missing(self, present):
        for key in list(self._held):
            if key not in present:
                self._release(key)
