"""The whole lab in one process: the local internet, Google's APIs, a Kubernetes API per GKE cluster, and VMs.

``python -m lab up`` runs a ``World`` in a background process; ``python -m lab down`` stops it and removes every
namespace, process, mount and file it made. The GCP stand-in owns the resources; the backends here make them real:
a cluster becomes a real control plane at its endpoint plus a network namespace with its node, pod and
LoadBalancer addresses, the real istiod for each istiod pod once Istio is installed, and the east-west gateway's
passthrough to it; an instance becomes a systemd-nspawn VM (``lab.vms.Fleet``).
"""

import json
import os
import shutil
import threading

from lab.gcp import gke_webhooks, service
from lab.gcp.backends import BackendError, ClusterBackend
from lab.internet.client import write_env_file
from lab.istio.cluster import ClusterIstio
from lab.istio.release_host import ReleaseHost
from lab.kubernetes.control_plane import ControlPlane, gke_issuer
from lab.kubernetes.load_balancers import LoadBalancerController
from lab.net import addresses
from lab.vms import lifecycle
from lab.workloads.productcatalog import build as productcatalog_build

PROJECT = 'meshbridge-lab'
# Every cluster gets its own slice of the LoadBalancer range, so two clusters never hand out the same address.
_LB_SLICE_PREFIX = 27


def lb_range(cluster_number):
    """Cluster N's LoadBalancer addresses: the N-th /27 of the lab's LB range."""
    slices = list(addresses.LOAD_BALANCERS.subnets(new_prefix=_LB_SLICE_PREFIX))
    if not 1 <= cluster_number <= len(slices):
        raise BackendError('the lab has LoadBalancer room for %d clusters' % len(slices))
    return slices[cluster_number - 1]


class KubeClusters(ClusterBackend):
    """GKE clusters as real control planes (lab.kubernetes) with their API server on ``<endpoint>:443``, their
    network namespace on the VPC, a LoadBalancer controller, and Istio's moving parts: the real istiod for each
    istiod pod and the east-west gateway's passthrough (lab.istio.cluster)."""

    def __init__(self, state_dir, vpc, prefix):
        self.state_dir = state_dir
        self.vpc = vpc
        self.prefix = prefix
        self.google_webhooks = None     # the GCP stand-in's GkeWebhooks, set once it runs
        self._clusters = {}
        self._lock = threading.Lock()

    def create_cluster(self, spec):
        network = self.vpc.add_cluster(spec.name, spec.number, spec.cluster_ipv4_cidr)
        started = []
        try:
            plane = ControlPlane(
                os.path.join(self.state_dir, spec.name), prefix=self.prefix, host=spec.endpoint, port=443,
                cluster_cidr=spec.cluster_ipv4_cidr, service_cidr=spec.services_ipv4_cidr, node_ip=spec.node_ip,
                nodes=[(name, {'cloud.google.com/gke-nodepool': pool, 'topology.kubernetes.io/zone': zone,
                               'topology.kubernetes.io/region': zone.rsplit('-', 1)[0]})
                       for name, pool, zone in spec.nodes],
                issuer=gke_issuer(spec.project, spec.location, spec.name), token_webhook=self.google_webhooks.webhook(gke_webhooks.TOKEN_REVIEW_PATH),
                authorization_webhook=self.google_webhooks.webhook(gke_webhooks.AUTHORIZE_PATH))
            istio = ClusterIstio(plane, network, os.path.join(self.state_dir, spec.name, 'istio'), self.prefix)
            # The API server's calls into the cluster (webhooks) are routed to Services as kube-proxy would.
            plane.egress_connect = istio.routing.connect
            started.append(plane.start())
            started.append(LoadBalancerController(plane.kubeconfig, str(lb_range(spec.number)),
                                                  network.add_lb_address, network.remove_lb_address).start())
            started.append(istio.start())
        except Exception:
            for part in reversed(started):
                part.stop()
            self.vpc.remove_cluster(spec.name)
            shutil.rmtree(os.path.join(self.state_dir, spec.name), ignore_errors=True)
            raise
        with self._lock:
            self._clusters[spec.name] = started
        return plane.ca.cert_pem.decode()

    def delete_cluster(self, spec):
        with self._lock:
            parts = self._clusters.pop(spec.name, [])
        for part in reversed(parts):
            part.stop()
        try:
            self.vpc.remove_cluster(spec.name)
        except LookupError:
            pass        # never got its namespace: nothing to remove
        shutil.rmtree(os.path.join(self.state_dir, spec.name), ignore_errors=True)

    def stop(self):
        with self._lock:
            clusters, self._clusters = list(self._clusters.values()), {}
        for parts in clusters:
            for part in reversed(parts):
                part.stop()


class World:
    """Everything ``lab up`` starts, with its files under ``state_dir``."""

    def __init__(self, state_dir, prefix='mbl-', project=PROJECT, proxy_port=3128, settings=None,
                 isolated_controller=False):
        self.state_dir = os.path.abspath(state_dir)
        self.prefix = prefix
        # Tests that run beside another lab keep the controller end in a namespace of their own (docs/dev/lab.md).
        self.isolated_controller = isolated_controller
        self.project = project
        self.proxy_port = proxy_port
        self.settings = settings
        self.fleet = None
        self.clusters = None
        self.gcp = None
        self.releases = None

    @property
    def info_file(self):
        return os.path.join(self.state_dir, 'lab.json')

    def start(self):
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        self.fleet = lifecycle.up(os.path.join(self.state_dir, 'vms'), self.prefix, self.isolated_controller)
        self.clusters = KubeClusters(os.path.join(self.state_dir, 'clusters'), self.fleet.vpc, self.prefix)
        self.gcp = service.start(self.state_dir, self.clusters, self.fleet, self.project, self.proxy_port,
                                 self.settings)
        self.clusters.google_webhooks = self.gcp.gke_webhooks
        self.releases = ReleaseHost(self.gcp.ca, os.path.join(self.state_dir, 'releases'))
        self.releases.register(self.gcp.registry)
        self.releases.start()
        # The VM workload artifact the lab inventory installs with vm_workload's systemd mode.
        productcatalog_build.build(os.path.join(self.state_dir, 'artifacts'))
        env = dict(self.gcp.env, GCP_PROJECT=self.project, GCP_AUTH_KIND='serviceaccount',
                   GCP_SERVICE_ACCOUNT_FILE=self.gcp.key_file, MESHBRIDGE_LAB_STATE=self.state_dir)
        write_env_file(self.gcp.env_file, env)
        info = {
            'pid': os.getpid(), 'prefix': self.prefix, 'project': self.project, 'proxy': self.gcp.proxy.url,
            'env_file': self.gcp.env_file, 'service_account_file': self.gcp.key_file, 'account': self.gcp.account,
            'controller_address': str(addresses.CONTROLLER), 'vpc_subnet': str(addresses.SUBNET),
            'istio_versions': list(self.releases.versions),
        }
        with open(self.info_file + '.tmp', 'w', encoding='utf-8') as handle:
            json.dump(info, handle, indent=2)
        os.replace(self.info_file + '.tmp', self.info_file)
        return self

    def stop(self):
        """Stop the servers and the VMs; namespaces and files are removed by ``lab down`` (``lifecycle.down``)."""
        if self.releases is not None:
            self.releases.stop()
        if self.gcp is not None:
            self.gcp.stop()
        if self.clusters is not None:
            self.clusters.stop()
        if self.fleet is not None:
            for name in self.fleet.names():
                self.fleet.delete_instance(name)
