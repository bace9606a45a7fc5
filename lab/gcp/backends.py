"""What a new cluster or instance becomes in the lab: the interfaces other lab packages implement.

The GCP stand-in owns the API state and addresses (it is GCP that assigns them); a backend makes them real.
- ``lab.world.KubeClusters`` implements ClusterBackend: a real control plane for the cluster (lab.kubernetes),
  its API server at ``spec.endpoint``.
- ``lab.vms`` implements VmBackend: a systemd-nspawn VM in netns ``mbl-vm-<name>`` with the instance's address and
  the SSH keys from its metadata, and the network's firewall rules as nftables in each VM's namespace.
Backend methods run inside the operation (their time counts toward it). Any exception fails the operation with
its message (``BackendError`` for expected failures); a failed insert leaves no resource behind, as in GCP.
"""

import abc
import dataclasses
import logging

from lab.gcp.errors import ApiError

LOG = logging.getLogger('lab.gcp.backends')


class BackendError(Exception):
    """The backend could not make the resource real; the message ends up in the operation's ``error``."""


def backend_call(function, *args):
    """Run a backend method inside an operation; any failure becomes the operation's error."""
    try:
        return function(*args)
    except BackendError as error:
        raise ApiError(500, str(error), reason='internalError') from None
    except Exception as error:  # pylint: disable=broad-exception-caught
        LOG.exception('backend %s failed', getattr(function, '__qualname__', function))
        raise ApiError(500, '%s: %s' % (type(error).__name__, error), reason='internalError') from None


@dataclasses.dataclass(frozen=True)
class ClusterSpec:
    """A GKE cluster as the Kubernetes backend needs it (addresses per docs/dev/lab.md)."""

    project: str
    location: str
    name: str
    number: int                 # N: the cluster's index in the lab, from 1
    endpoint: str               # 127.0.10.N, the API server address (port 443)
    node_ip: str                # 10.168.0.(9+N), the cluster's node address in the VPC
    cluster_ipv4_cidr: str      # pod range, 10.4.0.0/14 for the first cluster
    services_ipv4_cidr: str     # service range, 10.8.0.0/20 for the first cluster
    kubernetes_version: str
    nodes: tuple = ()           # (node name, node pool, zone) for each node, as GKE names them


class ClusterBackend(abc.ABC):

    @abc.abstractmethod
    def create_cluster(self, spec):
        """Start the cluster's API server on ``spec.endpoint:443``; return its CA certificate (PEM text)."""

    @abc.abstractmethod
    def delete_cluster(self, spec):
        """Stop the cluster's API server and remove what ``create_cluster`` made."""


class VmBackend(abc.ABC):

    @abc.abstractmethod
    def create_instance(self, instance):
        """Boot a VM for ``instance`` (compute v1 Instance JSON); return its networkIP.

        ``instance['networkInterfaces'][0]['networkIP']`` already holds the address the stand-in assigned from the
        subnet (10.168.0.20 upwards for us-west2); the backend uses it and returns it. SSH keys are in
        ``instance['metadata']['items']`` (key ``ssh-keys``, lines ``user:ssh-ed25519 AAAA... comment``), network
        tags in ``instance['tags']['items']``. ``instance['_projectMetadata']`` is the project's common instance
        metadata (what the metadata server serves under ``project/attributes/``), whose ``enable-oslogin`` the
        guest heeds unless the instance's own metadata sets it.
        """

    @abc.abstractmethod
    def delete_instance(self, name):
        """Stop VM ``name`` and remove its root and namespace."""

    @abc.abstractmethod
    def apply_firewalls(self, network, rules, instances):
        """Make ``rules`` (compute v1 Firewall JSON, all rules of ``network``) the nftables of every VM in
        ``instances`` (Instance JSON of that network). Called after any change to rules, instances or tags."""

    @abc.abstractmethod
    def update_metadata(self, instance):
        """The instance's or the project's metadata changed (``setMetadata``, ``setCommonInstanceMetadata``): apply
        its SSH keys again, as GCE's guest agent does (``instance`` as for ``create_instance``)."""

    @abc.abstractmethod
    def stop_instance(self, name):
        """Power VM ``name`` off, keeping its root and address (the instance becomes TERMINATED)."""

    @abc.abstractmethod
    def start_instance(self, name):
        """Boot the stopped VM ``name`` again."""
