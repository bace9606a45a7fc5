# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""GKE (container v1) clusters with one node pool, reconciled on the fields the module manages."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import GcpInputError, GcpOperationError
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.operations import Poller
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.resource import ManagedResource
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.validation import (
    GKE_NAME_MAX, check_cidr, check_labels, check_name)

CONTAINER_API = 'https://container.googleapis.com/v1'
LOGGING_SERVICE = 'logging.googleapis.com/kubernetes'
MONITORING_SERVICE = 'monitoring.googleapis.com/kubernetes'


class Cluster(ManagedResource):
    """A VPC-native (alias IP) GKE cluster. Node machine type, disk, image and the address ranges are set at
    creation; node count, release channel, logging, monitoring and labels are kept in sync."""

    IMMUTABLE = frozenset(['network', 'machineType', 'diskSizeGb', 'imageType', 'clusterIpv4Cidr', 'servicesIpv4Cidr'])
    RESULT_KEY = 'cluster'
    _TRANSIENT = ('PROVISIONING', 'RECONCILING', 'STOPPING')

    def __init__(self, client, params, waiter=None, poller=None):
        super(Cluster, self).__init__(client, params, waiter)
        self.project = params['project']
        self.location = check_name('location', params['location'])
        self.name = check_name('name', params['name'], GKE_NAME_MAX, 'GKE cluster name')
        self.location_url = '%s/projects/%s/locations/%s' % (CONTAINER_API, self.project, self.location)
        self.self_link = '%s/clusters/%s' % (self.location_url, self.name)
        self.pool_link = '%s/nodePools/%s' % (self.self_link, params['node_pool_name'])
        self._poller = poller or Poller(first=2.0, cap=20.0)
        if params['state'] == 'present':
            self._validate()

    def _validate(self):
        params = self.params
        check_name('network', params['network'])
        check_name('node_pool_name', params['node_pool_name'], GKE_NAME_MAX, 'GKE node pool name')
        check_labels('resource_labels', params['resource_labels'])
        for param in ('cluster_ipv4_cidr', 'services_ipv4_cidr'):
            if params[param]:
                check_cidr(param, params[param])
        if params['node_count'] < 1:
            raise GcpInputError('node_count=%s: a cluster needs at least 1 node' % params['node_count'])
        if params['disk_size_gb'] < 10:
            raise GcpInputError('disk_size_gb=%s is below the 10 GB minimum of a node boot disk' % params['disk_size_gb'])

    def desired_view(self):
        params = self.params
        view = {
            'network': params['network'],
            'machineType': params['machine_type'],
            'diskSizeGb': params['disk_size_gb'],
            'imageType': params['image_type'],
            'nodeCount': params['node_count'],
            'releaseChannel': params['release_channel'],
            'loggingService': LOGGING_SERVICE if params['cloud_logging'] else 'none',
            'monitoringService': MONITORING_SERVICE if params['cloud_monitoring'] else 'none',
            'resourceLabels': check_labels('resource_labels', params['resource_labels']),
        }
        # Ranges GKE picks when not given are not ours to compare.
        for param, field in (('cluster_ipv4_cidr', 'clusterIpv4Cidr'), ('services_ipv4_cidr', 'servicesIpv4Cidr')):
            if params[param]:
                view[field] = check_cidr(param, params[param])
        return view

    def _pool(self, cluster):
        for pool in cluster.get('nodePools') or []:
            if pool.get('name') == self.params['node_pool_name']:
                return pool
        return {}

    def current_view(self, cluster):
        pool = self._pool(cluster)
        config = pool.get('config') or {}
        channel = (cluster.get('releaseChannel') or {}).get('channel') or 'UNSPECIFIED'
        return {
            'network': cluster.get('network'),
            'machineType': config.get('machineType'),
            'diskSizeGb': config.get('diskSizeGb'),
            'imageType': config.get('imageType'),
            'nodeCount': self._nodes_per_zone(cluster, pool),
            'releaseChannel': channel,
            'loggingService': cluster.get('loggingService'),
            'monitoringService': cluster.get('monitoringService'),
            'resourceLabels': cluster.get('resourceLabels') or {},
            'clusterIpv4Cidr': cluster.get('clusterIpv4Cidr'),
            'servicesIpv4Cidr': cluster.get('servicesIpv4Cidr'),
        }

    @staticmethod
    def _nodes_per_zone(cluster, pool):
        """The pool's nodes per zone, the unit of node_count and setSize. initialNodeCount (per zone) stays at the
        creation value; currentNodeCount counts the nodes of every pool in every zone, so with one pool it is
        divided by the pool's zones (one for a zonal cluster, three for a regional one). Zones holding different
        numbers of nodes give a fraction, which no node_count matches."""
        total = cluster.get('currentNodeCount')
        if len(cluster.get('nodePools') or []) != 1 or total is None:
            return pool.get('initialNodeCount')
        zones = len(pool.get('locations') or cluster.get('locations') or []) or 1
        return total // zones if total % zones == 0 else round(float(total) / zones, 2)

    def _wait(self, operation):
        fallback = '%s/operations/%s' % (self.location_url, operation.get('name'))
        return self.waiter.wait(operation, operation.get('selfLink') or fallback, self.params['operation_timeout'])

    def _await_steady(self):
        cluster, dummy, dummy = self._poller.until(
            read=lambda: self.client.get_or_none(self.self_link),
            is_done=lambda cluster: cluster is None or cluster.get('status') not in self._TRANSIENT,
            timeout=self.params['operation_timeout'],
            describe=lambda cluster: 'cluster %s is still %s' % (self.name, (cluster or {}).get('status')))
        return cluster

    def settle(self, current, check_mode):
        if current.get('status') in self._TRANSIENT and not check_mode:
            return self._await_steady()
        return current

    def replacement_reason(self, current):
        # A cluster whose creation failed is left in ERROR and cannot be repaired: it is replaced (state=present)
        # or deleted (state=absent), and the plan says so.
        if current.get('status') == 'ERROR':
            return 'in status ERROR (%s)' % (current.get('statusMessage') or 'no status message')
        return None

    def create(self):
        params = self.params
        view = self.desired_view()
        policy = {'useIpAliases': True, 'createSubnetwork': False}
        if 'clusterIpv4Cidr' in view:
            policy['clusterIpv4CidrBlock'] = view['clusterIpv4Cidr']
        if 'servicesIpv4Cidr' in view:
            policy['servicesIpv4CidrBlock'] = view['servicesIpv4Cidr']
        config = {'machineType': view['machineType'], 'diskSizeGb': view['diskSizeGb'], 'imageType': view['imageType'],
                  'oauthScopes': params['node_oauth_scopes']}
        cluster = {
            'name': self.name,
            'network': view['network'],
            'nodePools': [{'name': params['node_pool_name'], 'initialNodeCount': view['nodeCount'], 'config': config}],
            'ipAllocationPolicy': policy,
            'loggingService': view['loggingService'],
            'monitoringService': view['monitoringService'],
            'releaseChannel': {'channel': view['releaseChannel']},
            'resourceLabels': view['resourceLabels'],
        }
        if params['subnetwork']:
            cluster['subnetwork'] = params['subnetwork']
        self._wait(self.client.post('%s/clusters' % self.location_url, {'cluster': cluster}))
        created = self._await_steady()
        if created is None or created.get('status') != 'RUNNING':
            raise GcpOperationError('cluster %s was created but is %s: %s' % (
                self.name, (created or {}).get('status', 'gone'), (created or {}).get('statusMessage', '')))
        return created

    def update(self, current, fields):
        view = self.desired_view()
        # GKE applies one setting per update call.
        for field, update in (('releaseChannel', {'desiredReleaseChannel': {'channel': view['releaseChannel']}}),
                              ('loggingService', {'desiredLoggingService': view['loggingService']}),
                              ('monitoringService', {'desiredMonitoringService': view['monitoringService']})):
            if field in fields:
                self._wait(self.client.put(self.self_link, {'update': update}))
        if 'nodeCount' in fields:
            self._wait(self.client.post(self.pool_link + ':setSize', {'nodeCount': view['nodeCount']}))
        if 'resourceLabels' in fields:
            fingerprint = self.client.get(self.self_link).get('labelFingerprint')
            self._wait(self.client.post(self.self_link + ':setResourceLabels', {
                'resourceLabels': view['resourceLabels'], 'labelFingerprint': fingerprint}))
        return self._await_steady()

    def delete(self, current):
        self._wait(self.client.delete(self.self_link))
