"""Compute Engine's regional quotas, which the compute and container stand-ins share: a GKE node is a Compute Engine
VM of the project and counts against the same quotas as the project's own VMs.

What counts against which metric (https://cloud.google.com/compute/resource-usage): a VM's vCPUs against
``CPUS``, or against its family's own metric (``N2_CPUS``, ``N2D_CPUS``, ``C2_CPUS``, ``C2D_CPUS``); its disks'
GB against ``SSD_TOTAL_GB`` when balanced or SSD persistent disks, against ``DISKS_TOTAL_GB`` when standard ones; its
ephemeral external address against ``IN_USE_ADDRESSES``; the VM itself against ``INSTANCES``. A GKE node of a
cluster without private nodes has an external address too (kubeflow/kubeflow#842: a node pool refused for
``IN_USE_ADDRESSES``).

The refusals follow what the APIs answer when a request would exceed a quota:

- compute ``instances.insert``: 403 ``Quota 'SSD_TOTAL_GB' exceeded.  Limit: 500.0 in region us-west2.``, reason
  ``quotaExceeded`` (openshift/installer#2292, scylladb/scylla-cluster-tests#9187);
- container ``clusters.create`` and ``setSize``: 403 ``Insufficient regional quota to satisfy request: resource
  "SSD_TOTAL_GB": request requires '300.0' and is short '50.0'. project has a quota of '250.0' with '250.0'
  available. View and manage quotas at ...`` (kubeflow/pipelines#10907, kubernetes-hy.github.io#166).
"""

from lab.gcp import compute_world as world
from lab.gcp.errors import ApiError

# Families with a regional vCPU quota of their own; every other family counts against CPUS.
_FAMILY_CPU_METRICS = {'n2': 'N2_CPUS', 'n2d': 'N2D_CPUS', 'c2': 'C2_CPUS', 'c2d': 'C2D_CPUS'}
_SSD_TYPES = ('pd-balanced', 'pd-ssd')


def cpu_metric(machine_type):
    return _FAMILY_CPU_METRICS.get(machine_type.split('-', 1)[0], 'CPUS')


def disk_metric(disk_type):
    return 'SSD_TOTAL_GB' if disk_type.rsplit('/', 1)[-1] in _SSD_TYPES else 'DISKS_TOTAL_GB'


def vm_usage(machine_type, disks, external_addresses, count=1):
    """``{metric: amount}`` that ``count`` VMs of ``machine_type`` with ``disks`` (``[(type, GB)]``) and
    ``external_addresses`` each use."""
    usage = {'INSTANCES': count, cpu_metric(machine_type): world.MACHINE_TYPES[machine_type][0] * count}
    for disk_type, size_gb in disks:
        metric = disk_metric(disk_type)
        usage[metric] = usage.get(metric, 0) + int(size_gb) * count
    if external_addresses:
        usage['IN_USE_ADDRESSES'] = external_addresses * count
    return usage


def add(total, usage):
    for metric, amount in usage.items():
        total[metric] = total.get(metric, 0) + amount
    return total


class Quotas:
    """Limits from the stand-in's settings (read at each call: tests change them), usage from the providers the
    APIs register: callables ``(project, region) -> {metric: amount}``."""

    def __init__(self, settings):
        self.settings = settings
        self.providers = []

    def usage(self, project, region):
        total = {}
        for provider in self.providers:
            add(total, provider(project, region))
        return total

    def region_quotas(self, project, region):
        """The ``quotas`` of a compute Region resource."""
        usage = self.usage(project, region)
        return [{'metric': metric, 'limit': float(limit), 'usage': float(usage.get(metric, 0))}
                for metric, limit in sorted(self.settings.quotas.items())]

    def shortfall(self, project, region, need):
        """``(metric, limit, usage, need)`` of the first metric that ``need`` would take past its limit, or None."""
        usage = self.usage(project, region)
        for metric, amount in sorted(need.items()):
            limit = self.settings.quotas.get(metric)
            if limit is not None and amount > 0 and usage.get(metric, 0) + amount > limit:
                return metric, float(limit), float(usage.get(metric, 0)), float(amount)
        return None

    def check_compute(self, project, region, need):
        """Raise compute's 403 ``quotaExceeded`` when ``need`` does not fit."""
        short = self.shortfall(project, region, need)
        if short:
            metric, limit, _usage, _need = short
            raise ApiError(403, "Quota '%s' exceeded.  Limit: %s in region %s." % (metric, limit, region),
                           reason='quotaExceeded')

    def check_container(self, project, region, need):
        """Raise GKE's 403 ``Insufficient regional quota`` when ``need`` does not fit."""
        short = self.shortfall(project, region, need)
        if short:
            metric, limit, usage, amount = short
            available = max(0.0, limit - usage)
            raise ApiError(403, "Insufficient regional quota to satisfy request: resource \"%s\": request requires "
                                "'%s' and is short '%s'. project has a quota of '%s' with '%s' available. View and "
                                "manage quotas at https://console.cloud.google.com/iam-admin/quotas?usage=USED&"
                                "project=%s." % (metric, amount, amount - available, limit, available, project),
                           reason='forbidden')
