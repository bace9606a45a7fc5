# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Before a run creates anything: whether the project's regional quotas take what it will create, and whether OS Login
would make the VMs ignore the SSH key the run puts in their metadata. Reads only."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.compute import COMPUTE_API, short_name
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.container import (
    CONTAINER_API, pool_nodes_per_zone)
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import GcpError, GcpInputError
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.operations import OperationWaiter
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.validation import check_name

# What counts against which regional quota (https://cloud.google.com/compute/resource-usage): vCPUs against CPUS,
# or against their family's own metric; balanced and SSD persistent disks against SSD_TOTAL_GB, standard ones against
# DISKS_TOTAL_GB; an ephemeral external address against IN_USE_ADDRESSES (GKE nodes without private nodes have one:
# a node pool can be refused for it, kubeflow/kubeflow#842).
_FAMILY_CPU_METRICS = {'n2': 'N2_CPUS', 'n2d': 'N2D_CPUS', 'c2': 'C2_CPUS', 'c2d': 'C2D_CPUS'}
_SSD_DISK_TYPES = ('pd-balanced', 'pd-ssd')
_UNITS = {'SSD_TOTAL_GB': ' GB', 'DISKS_TOTAL_GB': ' GB'}
# GKE spreads a regional cluster's nodes over three of the region's zones unless told otherwise.
_REGIONAL_CLUSTER_ZONES = 3


class GcpPreflightError(GcpError):
    """The project cannot take the run; ``details`` (quotas, OS Login) go into the module's failure."""

    def __init__(self, message, details):
        super(GcpPreflightError, self).__init__(message)
        self.details = details


def cpu_metric(machine_type):
    return _FAMILY_CPU_METRICS.get(machine_type.split('-', 1)[0], 'CPUS')


def disk_metric(disk_type):
    return 'SSD_TOTAL_GB' if disk_type in _SSD_DISK_TYPES else 'DISKS_TOTAL_GB'


def metadata_items(metadata):
    """``{key: value}`` of a Compute Engine Metadata resource."""
    return dict((item.get('key'), item.get('value')) for item in (metadata or {}).get('items') or [])


def flag_true(value):
    # The guest agent reads enable-oslogin as Go's strconv.ParseBool does.
    return str(value).strip().lower() in ('1', 't', 'true')


def _region_of(location):
    """``us-west2`` from a zone ``us-west2-a`` or from the region itself."""
    parts = location.split('-')
    return '-'.join(parts[:2]) if len(parts) > 2 else location


class Preflight(object):
    """Reads the project (metadata), each region (quotas), the cluster and VMs that exist, and the machine types;
    refuses with GcpPreflightError when something the run creates does not fit or OS Login is on."""

    def __init__(self, client, params, waiter=None):
        self.client = client
        self.params = params
        self.waiter = waiter or OperationWaiter(client)
        self.warnings = []
        self.project = params['project']
        self.cluster = params['cluster']
        self.instances = params['instances'] or []
        self._machine_types = {}
        self._validate()

    def _validate(self):
        if self.cluster:
            check_name('cluster.name', self.cluster['name'])
            check_name('cluster.location', self.cluster['location'])
            if self.cluster['node_count'] < 1:
                raise GcpInputError('cluster.node_count=%s: a cluster needs at least 1 node'
                                    % self.cluster['node_count'])
        for instance in self.instances:
            check_name('instances name', instance['name'])
            check_name('instances zone', instance['zone'])

    # -- reads ---------------------------------------------------------------------------------------------------

    def _cpus(self, zone, machine_type):
        key = (zone, machine_type)
        if key not in self._machine_types:
            found = self.client.get_or_none('%s/projects/%s/zones/%s/machineTypes/%s'
                                            % (COMPUTE_API, self.project, zone, machine_type))
            if found is None:
                raise GcpInputError('machine type %s does not exist in zone %s' % (machine_type, zone))
            self._machine_types[key] = int(found.get('guestCpus') or 0)
        return self._machine_types[key]

    def _region(self, region):
        found = self.client.get_or_none('%s/projects/%s/regions/%s' % (COMPUTE_API, self.project, region))
        if found is None:
            raise GcpInputError('region %s does not exist (check the cluster location and the VM zones)' % region)
        return found

    # -- what the run creates --------------------------------------------------------------------------------------

    def _cluster_needs(self, regions):
        """Add the nodes the cluster step creates (all of them, or those a resize adds) to ``regions``."""
        cluster = self.cluster
        location = cluster['location']
        region = _region_of(location)
        existing = self.client.get_or_none('%s/projects/%s/locations/%s/clusters/%s'
                                           % (CONTAINER_API, self.project, location, cluster['name']))
        if location == region:
            zone_names = [short_name(zone) for zone in self._region(region).get('zones') or []]
            zones = zone_names[:_REGIONAL_CLUSTER_ZONES]
        else:
            zones = [location]
        pool = None
        if existing is not None:
            pool = next((each for each in existing.get('nodePools') or []
                         if each.get('name') == cluster['node_pool_name']), None)
            zones = (pool or {}).get('locations') or existing.get('locations') or zones
        current = pool_nodes_per_zone(self.client, pool) if pool else 0
        if existing is not None and existing.get('status') == 'ERROR':
            current = 0  # a cluster in ERROR is deleted and made again
        if isinstance(current, dict):
            added = sum(max(0, cluster['node_count'] - current.get(zone, 0)) for zone in zones)
        else:
            added = max(0, cluster['node_count'] - int(current or 0)) * len(zones)
        if not added:
            return
        what = 'cluster %s: %d node%s' % (cluster['name'], added, '' if added == 1 else 's')
        cpus = self._cpus(zones[0], cluster['machine_type'])
        self._need(regions, region, cpu_metric(cluster['machine_type']), added * cpus,
                   '%s x %d vCPUs (%s)' % (what, cpus, cluster['machine_type']))
        self._need(regions, region, disk_metric(cluster['disk_type']), added * cluster['disk_size_gb'],
                   '%s x %d GB %s' % (what, cluster['disk_size_gb'], cluster['disk_type']))
        self._need(regions, region, 'IN_USE_ADDRESSES', added, '%s x 1 external address' % what)

    def _instance_needs(self, regions, instance, existing):
        if existing is not None:
            return
        zone = instance['zone']
        region = _region_of(zone)
        what = 'VM %s' % instance['name']
        cpus = self._cpus(zone, instance['machine_type'])
        self._need(regions, region, cpu_metric(instance['machine_type']), cpus,
                   '%s: %d vCPUs (%s)' % (what, cpus, instance['machine_type']))
        self._need(regions, region, disk_metric(instance['disk_type']), instance['disk_size_gb'],
                   '%s: %d GB %s' % (what, instance['disk_size_gb'], instance['disk_type']))
        if instance['external_ip']:
            self._need(regions, region, 'IN_USE_ADDRESSES', 1, '%s: 1 external address' % what)

    @staticmethod
    def _need(regions, region, metric, amount, because):
        needs = regions.setdefault(region, {}).setdefault(metric, {'amount': 0, 'because': []})
        needs['amount'] += amount
        needs['because'].append(because)

    # -- checks ----------------------------------------------------------------------------------------------------

    def _check_quotas(self, regions):
        """``(quotas, shortfalls)``: each needed metric of each region with its figures; those that do not fit."""
        quotas, shortfalls = [], []
        for region, needs in sorted(regions.items()):
            limits = dict((quota.get('metric'), quota) for quota in self._region(region).get('quotas') or [])
            for metric, need in sorted(needs.items()):
                quota = limits.get(metric)
                if quota is None:
                    self.warnings.append('region %s reports no %s quota: the %s that %s need were not checked'
                                         % (region, metric, need['amount'], '; '.join(need['because'])))
                    continue
                limit, usage = float(quota.get('limit') or 0), float(quota.get('usage') or 0)
                entry = {'region': region, 'metric': metric, 'limit': limit, 'usage': usage,
                         'available': max(0.0, limit - usage), 'needed': need['amount'], 'because': need['because']}
                quotas.append(entry)
                if entry['needed'] > entry['available']:
                    shortfalls.append(entry)
        return quotas, shortfalls

    def _check_os_login(self, existing_instances):
        """Each VM's OS Login state: its own ``enable-oslogin`` (what the run sets, else what an existing VM has)
        wins over the project's, as an instance's metadata overrides the project's."""
        project = self.client.get('%s/projects/%s' % (COMPUTE_API, self.project))
        project_value = metadata_items(project.get('commonInstanceMetadata')).get('enable-oslogin')
        states = []
        for instance in self.instances:
            planned = dict((key, value) for key, value in (instance['metadata'] or {}).items())
            existing = existing_instances.get(instance['name'])
            if 'enable-oslogin' in planned:
                value, source = planned['enable-oslogin'], 'the metadata this run gives the VM'
            elif existing is not None and 'enable-oslogin' in metadata_items(existing.get('metadata')):
                value, source = metadata_items(existing.get('metadata'))['enable-oslogin'], "the VM's own metadata"
            elif project_value is not None:
                value, source = project_value, 'the project metadata'
            else:
                value, source = None, None
            states.append({'instance': instance['name'], 'enabled': flag_true(value) if value is not None else False,
                           'value': value, 'source': source})
        return states

    def run(self, state, check_mode):  # pylint: disable=unused-argument
        regions = {}
        existing_instances = {}
        for instance in self.instances:
            existing = self.client.get_or_none('%s/projects/%s/zones/%s/instances/%s'
                                               % (COMPUTE_API, self.project, instance['zone'], instance['name']))
            if existing is not None:
                existing_instances[instance['name']] = existing
        if self.params['check_quotas']:
            if self.cluster:
                self._cluster_needs(regions)
            for instance in self.instances:
                self._instance_needs(regions, instance, existing_instances.get(instance['name']))
        quotas, shortfalls = self._check_quotas(regions)
        os_login = self._check_os_login(existing_instances) if self.params['check_os_login'] and self.instances else []
        details = {'quotas': quotas, 'os_login': os_login}
        problems = [self._shortfall_message(shortfalls)] if shortfalls else []
        blocked = [entry for entry in os_login if entry['enabled']]
        if blocked:
            problems.append(self._os_login_message(blocked))
        if problems:
            raise GcpPreflightError(' '.join(problems), details)
        result = {'changed': False, 'operations': self.waiter.progress, 'api_retries': self.client.retried}
        result.update(details)
        if self.warnings:
            result['warnings'] = list(self.warnings)
        return result

    # -- messages ----------------------------------------------------------------------------------------------------

    def _shortfall_message(self, shortfalls):
        lines = []
        for entry in shortfalls:
            unit = _UNITS.get(entry['metric'], '')
            lines.append('%s in %s: needs %s%s (%s), %s%s of the %s%s limit available (%s in use)' % (
                entry['metric'], entry['region'], _number(entry['needed']), unit, '; '.join(entry['because']),
                _number(entry['available']), unit, _number(entry['limit']), unit, _number(entry['usage'])))
        metrics = set(entry['metric'] for entry in shortfalls)
        fixes = []
        if 'SSD_TOTAL_GB' in metrics:
            fixes.append('smaller node disks (cluster.disk_size_gb; GKE needs at least 10 GB), or disk type '
                         'pd-standard for nodes and VMs (cluster.disk_type, instances disk_type), which counts against '
                         'DISKS_TOTAL_GB instead')
        if 'DISKS_TOTAL_GB' in metrics:
            fixes.append('smaller disks (cluster.disk_size_gb, instances disk_size_gb)')
        if metrics - set(['SSD_TOTAL_GB', 'DISKS_TOTAL_GB']):
            fixes.append('fewer nodes (cluster.node_count) or smaller machine types (cluster.machine_type, instances '
                         'machine_type)')
        if 'IN_USE_ADDRESSES' in metrics:
            fixes.append('VMs without an external address (instances external_ip)')
        fixes.append('or more quota (https://console.cloud.google.com/iam-admin/quotas?project=%s; new projects are '
                     'often limited until their billing account has history)' % self.project)
        return ('The project %s has too little regional quota for what this run would create, so nothing was '
                'created: %s. Fix: %s.' % (self.project, '; '.join(lines), ', '.join(fixes)))

    def _os_login_message(self, blocked):
        names = ', '.join('%s (enable-oslogin=%s in %s)' % (entry['instance'], entry['value'], entry['source'])
                          for entry in blocked)
        return ('OS Login is enabled for %s: such a VM ignores the ssh-keys metadata that holds the key this run '
                'connects with, and every task on it would fail with "Permission denied (publickey)". Nothing was '
                'created. Fix: give the VMs enable-oslogin: "FALSE" in their metadata (instance metadata overrides '
                'the project\'s), or set it in the project metadata (gcloud compute project-info add-metadata '
                '--metadata enable-oslogin=FALSE). Where the organisation policy constraints/compute.requireOsLogin is '
                'enforced, neither is allowed: ask for an exception for this project.' % names)


def _number(value):
    return ('%d' % value) if float(value).is_integer() else ('%.1f' % value)
