# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""GKE (container v1) clusters with one node pool, reconciled on the fields the module manages."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import (
    GcpApiError, GcpInputError, GcpOperationError)
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.operations import Poller
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.resource import BUSY_CAUSE, ManagedResource
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.validation import (
    GKE_NAME_MAX, check_cidr, check_labels, check_name)

CONTAINER_API = 'https://container.googleapis.com/v1'
LOGGING_SERVICE = 'logging.googleapis.com/kubernetes'
MONITORING_SERVICE = 'monitoring.googleapis.com/kubernetes'
NODE_DISK_TYPES = ('pd-standard', 'pd-balanced', 'pd-ssd')

# GKE refuses a mutation of a cluster while an operation runs on it, its own (auto-upgrades, repairs) included, with
# 400 FAILED_PRECONDITION: "Operation operation-... is currently upgrading cluster west. Please wait and try again
# once it is done." (hashicorp/terraform-provider-google#3650) or "Cluster is running incompatible operation
# operation-..." (rancher/gke-operator#509).
_BUSY_MESSAGE = re.compile(r'incompatible operation|is currently \w+ cluster|try again once it is done',
                           re.IGNORECASE)


def cluster_busy(exc):
    """Whether ``exc`` (a GcpApiError) is GKE's refusal to change a cluster while an operation runs on it."""
    return (isinstance(exc, GcpApiError) and exc.status_code == 400
            and (exc.status == 'FAILED_PRECONDITION' or 'failedPrecondition' in (exc.reason or ''))
            and bool(_BUSY_MESSAGE.search(exc.api_message or '')))


def targets_cluster(target_link, location, name):
    """Whether an Operation's ``targetLink`` is cluster ``name`` in ``location`` or one of its node pools or nodes.
    GKE writes the link with the project's number or ID and ``zones/`` or ``locations/``."""
    return bool(re.search(r'/(?:zones|locations)/%s/clusters/%s(?:/|$)' % (re.escape(location), re.escape(name)),
                          target_link or ''))


def pool_nodes_per_zone(client, pool):
    """The node pool's nodes per zone, as its managed instance groups say (the node pool's ``instanceGroupUrls``,
    one group per zone, each group's ``targetSize``), as Terraform's provider reads a pool's ``node_count``. A
    group that is gone (404) is skipped. Without groups (a pool still being created) ``initialNodeCount``, which
    is per zone and stays at its creation value. Zones with different sizes give ``{zone: size}``, which no
    ``node_count`` equals."""
    sizes = {}
    for url in pool.get('instanceGroupUrls') or []:
        group = client.get_or_none(url)
        if group is not None:
            zone = (group.get('zone') or url.split('/zones/')[-1].split('/')[0]).rstrip('/').rsplit('/', 1)[-1]
            sizes[zone] = sizes.get(zone, 0) + int(group.get('targetSize') or 0)
    if not sizes:
        return pool.get('initialNodeCount')
    if len(set(sizes.values())) == 1:
        return list(sizes.values())[0]
    return sizes


def operation_summary(operation):
    """The fields of an Operation that name it and say how far it is, for the module's result; None for None."""
    if operation is None:
        return None
    return dict((key, operation.get(key)) for key in ('name', 'operationType', 'status', 'targetLink', 'selfLink',
                                                      'startTime'))


def check_telemetry(cloud_logging, cloud_monitoring):
    """Refuse the logging/monitoring pair GKE refuses, naming the parameters, the rule and the fix."""
    if bool(cloud_logging) != bool(cloud_monitoring):
        raise GcpInputError(
            'cloud_logging=%s with cloud_monitoring=%s: GKE takes the Kubernetes logging and monitoring services '
            '(%s, %s) only together and refuses a cluster with one of them and not the other ("can only be set '
            'together"). Set both to true (Cloud Logging and Cloud Monitoring) or both to false.'
            % (bool(cloud_logging), bool(cloud_monitoring), LOGGING_SERVICE, MONITORING_SERVICE))


class Cluster(ManagedResource):
    """A VPC-native (alias IP) GKE cluster. Node machine type, disk, image and the address ranges are set at
    creation; node count, release channel, logging, monitoring and labels are kept in sync."""

    IMMUTABLE = frozenset(['network', 'machineType', 'diskSizeGb', 'diskType', 'imageType', 'clusterIpv4Cidr',
                           'servicesIpv4Cidr'])
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
        # wait=false: the creation or deletion is started and returned, not waited for (a task polls it, showing
        # its progress); so is an operation found creating or changing the cluster, which is not started again.
        self.wait = params.get('wait', True)
        self.started = None
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
        if params['disk_type'] not in NODE_DISK_TYPES:
            raise GcpInputError('disk_type=%r is not a node disk type: use one of %s'
                                % (params['disk_type'], ', '.join(NODE_DISK_TYPES)))
        check_telemetry(params['cloud_logging'], params['cloud_monitoring'])

    def desired_view(self):
        params = self.params
        view = {
            'network': params['network'],
            'machineType': params['machine_type'],
            'diskSizeGb': params['disk_size_gb'],
            'diskType': params['disk_type'],
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
            'diskType': config.get('diskType'),
            'imageType': config.get('imageType'),
            # Not the cluster's currentNodeCount: deprecated, it counts every pool and zone and, during an upgrade,
            # the surge nodes.
            'nodeCount': pool_nodes_per_zone(self.client, pool) if pool else None,
            'releaseChannel': channel,
            'loggingService': cluster.get('loggingService'),
            'monitoringService': cluster.get('monitoringService'),
            'resourceLabels': cluster.get('resourceLabels') or {},
            'clusterIpv4Cidr': cluster.get('clusterIpv4Cidr'),
            'servicesIpv4Cidr': cluster.get('servicesIpv4Cidr'),
        }

    def run(self, state, check_mode):
        if not self.wait and not check_mode:
            pending = self._pending()
            if pending is not None:
                return pending
        result = super(Cluster, self).run(state, check_mode)
        result['operation'] = operation_summary(self.started)
        return result

    def _pending(self):
        """When the cluster is being created or changed (a run killed half-way, GKE's own upgrade), the result
        that names the operation doing it and changes nothing; None otherwise. Compared only once it is done."""
        current = self.client.get_or_none(self.self_link)
        if current is None or current.get('status') not in self._TRANSIENT:
            return None
        running = self._running_operations()
        if not running:
            return None  # nothing to name: run() waits for the cluster as with wait=true
        view = self.current_view(current)
        return {'changed': False, 'changed_fields': [], 'diff': {'before': view, 'after': view},
                'cluster': current, 'operation': operation_summary(running[0]), 'operations': [],
                'api_retries': self.client.retried}

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
        config = {'machineType': view['machineType'], 'diskSizeGb': view['diskSizeGb'], 'diskType': view['diskType'],
                  'imageType': view['imageType'], 'oauthScopes': params['node_oauth_scopes']}
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
        operation = self.client.post('%s/clusters' % self.location_url, {'cluster': cluster})
        if not self.wait:
            self.started = operation
            return self.client.get_or_none(self.self_link) or {}
        self._wait(operation)
        created = self._await_steady()
        if created is None or created.get('status') != 'RUNNING':
            raise GcpOperationError('cluster %s was created but is %s: %s' % (
                self.name, (created or {}).get('status', 'gone'), (created or {}).get('statusMessage', '')))
        return created

    def update(self, current, fields):
        view = self.desired_view()
        # One setting per ClusterUpdate ("Exactly one update can be applied to a cluster with each request"), except
        # the logging and monitoring services: GKE takes the Kubernetes ones only together and refuses a call that
        # would leave the cluster with one of them ("can only be set together", hashicorp/terraform-provider-google
        # #3078), so they change in one call, as gcloud's --enable-stackdriver-kubernetes sends them.
        if 'releaseChannel' in fields:
            self._wait(self._mutate('PUT', self.self_link,
                                    {'update': {'desiredReleaseChannel': {'channel': view['releaseChannel']}}}))
        if 'loggingService' in fields or 'monitoringService' in fields:
            self._wait(self._mutate('PUT', self.self_link, {'update': {
                'desiredLoggingService': view['loggingService'],
                'desiredMonitoringService': view['monitoringService']}}))
        if 'nodeCount' in fields:
            self._wait(self._mutate('POST', self.pool_link + ':setSize', {'nodeCount': view['nodeCount']}))
        if 'resourceLabels' in fields:
            self._wait(self._mutate('POST', self.self_link + ':setResourceLabels', lambda: {
                'resourceLabels': view['resourceLabels'],
                'labelFingerprint': self.client.get(self.self_link).get('labelFingerprint')}))
        return self._await_steady()

    def delete(self, current):
        operation = self._mutate('DELETE', self.self_link)
        # A replacement's deletion is waited for: the creation cannot start before it is done.
        if not self.wait and self.params['state'] == 'absent':
            self.started = operation
        else:
            self._wait(operation)

    # -- a cluster busy with other operations ------------------------------------------------------------------------

    def _running_operations(self):
        """The operations not DONE on this cluster and its node pools, GKE's own included. operations.list has no
        filter: it lists the location's operations, and their targetLink says which cluster each is on."""
        listed = self.client.get('%s/operations' % self.location_url)
        return [operation for operation in listed.get('operations') or []
                if operation.get('status') != 'DONE'
                and targets_cluster(operation.get('targetLink'), self.location, self.name)]

    def _await_operations(self):
        """Wait (each bounded by operation_timeout) until no operation runs on the cluster. Each wait is in the
        result's operations and named in a warning; one that fails is the cluster's business, not this change's."""
        for operation in self._running_operations():
            try:
                self._wait(operation)
                outcome = 'done'
            except GcpOperationError as exc:
                outcome = 'failed (%s)' % exc
            elapsed = self.waiter.progress[-1]['elapsed'] if self.waiter.progress else 0
            self.warnings.append('cluster %s was busy with operation %s (%s on %s): waited %.0f s until it was %s '
                                 'before changing the cluster' % (
                                     self.name, operation.get('name'), operation.get('operationType'),
                                     operation.get('targetLink'), elapsed, outcome))

    def _mutate(self, method, url, body=None):
        """Send a mutation of the cluster once the operations running on it are done. GKE may start one of its own
        at any time and refuse the call meanwhile (cluster_busy): then wait for the operations again, back off and
        retry, at most api_retries times; each refusal is in the result's api_retries."""
        self._await_operations()
        attempt = 0
        while True:
            try:
                return self.client.request(method, url, body=body() if callable(body) else body)
            except GcpApiError as exc:
                if not cluster_busy(exc):
                    raise
                if attempt >= self.client.policy.retries:
                    raise GcpOperationError(
                        'cluster %s stayed busy: GKE refused %s %s %d times because of operations running on the '
                        'cluster (last answer: %s). Run again once they are done (gcloud container operations list '
                        '--location %s).' % (self.name, method, url, attempt + 1, exc.api_message, self.location))
                delay = self.client.policy.delay(attempt)
                self.client.retried.append({'method': method, 'url': url, 'cause': BUSY_CAUSE, 'attempt': attempt + 1,
                                            'delay': round(delay, 3), 'message': exc.api_message})
                self._poller.pause(delay)
                self._await_operations()
                attempt += 1
