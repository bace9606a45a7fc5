"""container v1: clusters, node pools and operations, by ``projects.locations`` and ``projects.zones`` routes.

A cluster is PROVISIONING while its CREATE_CLUSTER operation runs; at the end the cluster backend starts its
Kubernetes API and the cluster gets its endpoint (127.0.10.N) and CA. Address ranges follow docs/dev/lab.md.

What GKE does beyond the schema and the stand-in plays:

- While any operation runs on a cluster (the caller's or GKE's own: auto-upgrades, repairs), GKE refuses other
  mutations of it with 400 FAILED_PRECONDITION, "Operation operation-... is currently upgrading cluster X. Please
  wait and try again once it is done." (hashicorp/terraform-provider-google#3650, banzaicloud/pipeline#623) or
  "Cluster is running incompatible operation operation-..." (rancher/gke-operator#509). GKE starts such operations
  itself, often right after creation (hashicorp/terraform-provider-google#3385, scylladb/scylla-operator#9); the
  stand-in does so when ``Settings.gke_operation_after_create`` names an operation type, and on request
  (``start_gke_operation``). During a node upgrade the cluster stays RUNNING and its deprecated
  ``currentNodeCount`` counts the surge node of each zone (GKE's default surge upgrade: maxSurge 1).
- Each node pool has a managed instance group per zone (``instanceGroupUrls``, served by the compute stand-in);
  ``setSize`` changes their ``targetSize``, not ``initialNodeCount``, which stays the creation value.
- ``logging.googleapis.com/kubernetes`` and ``monitoring.googleapis.com/kubernetes`` only together: GKE answers
  400 '"logging.googleapis.com/kubernetes" and "monitoring.googleapis.com/kubernetes" can only be set together
  (was "" and "monitoring.googleapis.com/kubernetes").' (hashicorp/terraform-provider-google#3078, when they were
  changed in two calls); the legacy services are gone since GKE 1.15 (ClusterUpdate ``desiredLoggingService`` /
  ``desiredMonitoringService``: "The legacy Cloud Logging service (no longer available as of GKE 1.15)"), refused
  with "Legacy monitoring is not supported in clusters running Kubernetes 1.15 or above."
  (terraform-google-modules/terraform-google-kubernetes-engine#565).
- Nodes count against the project's regional Compute Engine quotas (lab.gcp.quotas): a create or resize that
  does not fit is refused with 403 "Insufficient regional quota to satisfy request ...".
"""

import base64
import ipaddress
import re
import secrets
import threading
import time

from lab.gcp import compute_world as world
from lab.gcp.backends import ClusterSpec, backend_call
from lab.gcp.errors import ApiError, invalid
from lab.gcp.operations import Operation, rfc3339
from lab.gcp.quotas import Quotas, add, vm_usage

API_ROOT = 'https://container.googleapis.com/v1/'
VERSIONS = ('1.33.5-gke.1201000', '1.32.9-gke.1108000', '1.31.13-gke.1023000')
_NAME = re.compile(r'[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?')
_DEFAULT_SCOPES = ['https://www.googleapis.com/auth/devstorage.read_only', 'https://www.googleapis.com/auth/logging.write',
                   'https://www.googleapis.com/auth/monitoring', 'https://www.googleapis.com/auth/service.management.readonly',
                   'https://www.googleapis.com/auth/servicecontrol', 'https://www.googleapis.com/auth/trace.append']


def _values(values):
    """The same path values whichever route (``locations`` or ``zones``) the request came by."""
    return {
        'project': values.get('projectsId') or values.get('projectId'),
        'location': values.get('locationsId') or values.get('zone'),
        'cluster': values.get('clustersId') or values.get('clusterId'),
        'node_pool': values.get('nodePoolsId') or values.get('nodePoolId'),
        'operation': values.get('operationsId') or values.get('operationId'),
    }


COMPUTE_ROOT = 'https://www.googleapis.com/compute/v1/'
LOGGING_KUBERNETES = 'logging.googleapis.com/kubernetes'
MONITORING_KUBERNETES = 'monitoring.googleapis.com/kubernetes'
# The verbs of GKE's "Operation X is currently <verb> cluster Y" refusal; other types get "incompatible operation".
_BUSY_VERBS = {'CREATE_CLUSTER': 'creating', 'DELETE_CLUSTER': 'deleting', 'UPGRADE_MASTER': 'upgrading',
               'UPGRADE_NODES': 'upgrading', 'REPAIR_CLUSTER': 'repairing'}
# GKE's default surge upgrade settings: one extra node per zone while a pool is upgraded.
_MAX_SURGE = 1
_NODE_DISK_DEFAULTS = {'diskSizeGb': 100, 'diskType': 'pd-balanced', 'imageType': 'COS_CONTAINERD'}


def not_found(what):
    return ApiError(404, 'Not found: %s.' % what)


def _version(requested):
    if requested in (None, '', '-', 'latest'):
        return VERSIONS[0]
    for version in VERSIONS:
        if version == requested or version.startswith(requested + '.') or version.startswith(requested + '-'):
            return version
    raise invalid('Master version "%s" is unsupported.' % requested)


class ContainerApi:
    """The container v1 stand-in; ``handlers`` maps discovery method ids to functions."""

    def __init__(self, operations, cluster_backend, quotas=None):
        self.operations = operations
        self.cluster_backend = cluster_backend
        self.quotas = quotas or Quotas(operations.settings)
        self.quotas.providers.append(self.quota_usage)
        self._lock = threading.RLock()
        self._clusters = {}       # (project, location, name) -> cluster JSON (private keys start with _)
        self._operations = {}     # (project, name) -> Operation
        self.handlers = {}
        for route in ('locations', 'zones'):
            prefix = 'container.projects.%s.' % route
            self.handlers.update({
                prefix + 'clusters.create': self.create_cluster, prefix + 'clusters.get': self.get_cluster,
                prefix + 'clusters.list': self.list_clusters, prefix + 'clusters.delete': self.delete_cluster,
                prefix + 'clusters.update': self.update_cluster,
                prefix + ('clusters.setResourceLabels' if route == 'locations' else 'clusters.resourceLabels'):
                    self.set_resource_labels,
                prefix + 'clusters.nodePools.setSize': self.set_node_pool_size,
                prefix + 'clusters.nodePools.get': self.get_node_pool, prefix + 'clusters.nodePools.list': self.list_node_pools,
                prefix + 'clusters.nodePools.delete': self.delete_node_pool,
                prefix + 'operations.get': self.get_operation, prefix + 'operations.list': self.list_operations,
            })

    # -- helpers ---------------------------------------------------------------------------------------------------

    @staticmethod
    def _location(location):
        if location not in world.ZONES and location not in world.REGION_ZONES:
            raise invalid('Location "%s" does not exist.' % location)
        return location

    def _cluster(self, project, location, name):
        with self._lock:
            cluster = self._clusters.get((project, location, name))
        if cluster is None:
            raise not_found('projects/%s/locations/%s/clusters/%s' % (project, location, name))
        return cluster

    @staticmethod
    def _link(project, location, *parts):
        # GKE links zonal resources by ``zones/``, regional ones by ``locations/``.
        scope = 'zones' if location in world.ZONES else 'locations'
        return '%sprojects/%s/%s/%s/%s' % (API_ROOT, project, scope, location, '/'.join(parts))

    def _start(self, project, location, operation_type, target_link, work, rollback=None):
        name = 'operation-%d-%s' % (time.time() * 1000, secrets.token_hex(4))
        operation = Operation(name, operation_type, ('locations', location), target_link)
        with self._lock:
            self._operations[(project, name)] = operation
        self.operations.start(operation, work, rollback)
        return self._operation_json(project, operation)

    def _operation_json(self, project, operation):
        location = operation.scope[1]
        result = {'name': operation.name, 'operationType': operation.operation_type, 'status': operation.status,
                  'selfLink': self._link(project, location, 'operations', operation.name), 'targetLink': operation.target_link,
                  'location': location,
                  'startTime': rfc3339(operation.created)}
        if location in world.ZONES:
            result['zone'] = location
        if operation.ended:
            result['endTime'] = rfc3339(operation.ended)
        if operation.error:
            code, message = operation.error
            result['error'] = {'code': 13, 'message': message, 'details': []}
            result['statusMessage'] = '%s: %s' % (code, message)
        return result

    def _running_on(self, project, cluster):
        """The operations not yet DONE whose target is ``cluster`` or one of its node pools (or nodes)."""
        link = cluster['selfLink']
        with self._lock:
            return [op for (op_project, _name), op in sorted(self._operations.items(), key=lambda kv: kv[1].created)
                    if op_project == project and op.status != 'DONE'
                    and (op.target_link == link or op.target_link.startswith(link + '/'))]

    def _refuse_while_busy(self, project, cluster):
        """GKE's answer to a mutation of a cluster while an operation runs on it (see the module docstring)."""
        running = self._running_on(project, cluster)
        if running:
            operation = running[0]
            verb = _BUSY_VERBS.get(operation.operation_type)
            if verb:
                message = ('Operation %s is currently %s cluster %s. Please wait and try again once it is done.'
                           % (operation.name, verb, cluster['name']))
            else:
                message = 'Cluster is running incompatible operation %s.' % operation.name
            raise ApiError(400, message, reason='failedPrecondition', status='FAILED_PRECONDITION')

    def start_gke_operation(self, project, location, name, operation_type='UPGRADE_NODES'):
        """Start an operation of GKE's own on cluster ``name``, as auto-upgrades and repairs do; returns its JSON.
        ``UPGRADE_NODES`` targets the first node pool, which is RECONCILING meanwhile, with a surge node per zone;
        the cluster itself stays RUNNING. Other types target the cluster and change nothing in the lab."""
        cluster = self._cluster(project, location, name)
        with self._lock:
            pool = cluster['nodePools'][0] if cluster['nodePools'] else None
            if operation_type == 'UPGRADE_NODES' and pool is not None:
                target = pool['selfLink']
                pool['status'] = 'RECONCILING'
                cluster['_surging'] = pool['name']
            else:
                target = cluster['selfLink']

        def work():
            with self._lock:
                if pool is not None and cluster.get('_surging') == pool['name']:
                    pool['status'] = 'RUNNING'
                    cluster.pop('_surging', None)
        return self._start(project, location, operation_type, target, work)

    def quota_usage(self, project, region):
        """What the nodes of the project's clusters in ``region`` use of each quota metric (lab.gcp.quotas)."""
        total = {}
        with self._lock:
            clusters = [cluster for (owner, _location, _name), cluster in self._clusters.items() if owner == project]
            for cluster in clusters:
                for pool in cluster['nodePools']:
                    for group in cluster['_groups'].values():
                        if group['pool'] == pool['name'] and group['zone'].rsplit('-', 1)[0] == region:
                            add(total, _node_usage(pool, group['targetSize']))
        return total

    def instance_group_manager(self, project, zone, name):
        """The compute InstanceGroupManager of a node pool's nodes in ``zone``, or None."""
        with self._lock:
            for (owner, _location, _name), cluster in self._clusters.items():
                group = cluster['_groups'].get(name)
                if owner == project and group is not None and group['zone'] == zone:
                    return _group_json(project, cluster, group)
        return None

    # -- clusters --------------------------------------------------------------------------------------------------

    def _number(self):
        with self._lock:
            used = {cluster['_spec'].number for cluster in self._clusters.values()}
        return next(n for n in range(1, 246) if n not in used)

    def _network(self, project, value, kind, region):
        if not value:
            return 'default'
        name = value.rsplit('/', 1)[-1]
        if name != 'default' or (value.count('/') and not re.fullmatch(
                r'(?:projects/%s/)?%s/default' % (re.escape(project), 'global/networks' if kind == 'network' else 'regions/%s/subnetworks' % region),
                value)):
            raise invalid('%s "%s" does not exist.' % ('Network' if kind == 'network' else 'Subnetwork', value))
        return name

    def create_cluster(self, values, _query, body, _user):
        path = _values(values)
        project, location = path['project'], self._location(path['location'])
        request = body.get('cluster')
        if not request:
            raise invalid('Cluster.name must be provided.')
        name = request.get('name') or ''
        if not _NAME.fullmatch(name):
            raise invalid('Invalid value for field "cluster.name": "%s". Cluster names must start with a lowercase letter followed by up to '
                          '39 lowercase letters, numbers, or hyphens, and cannot end with a hyphen.' % name)
        if request.get('nodePools') and (request.get('initialNodeCount') or request.get('nodeConfig')):
            raise invalid('Cannot specify both node_pools and initial_node_count or node_config.')
        region = location if location in world.REGION_ZONES else world.ZONES[location]
        network = self._network(project, request.get('network') or (request.get('networkConfig') or {}).get('network'), 'network', region)
        subnetwork = self._network(project, request.get('subnetwork') or (request.get('networkConfig') or {}).get('subnetwork'),
                                   'subnetwork', region)
        node_config = dict(request.get('nodeConfig') or {})
        machine_type = node_config.get('machineType') or 'e2-medium'
        for config in [node_config] + [pool.get('config') or {} for pool in request.get('nodePools') or []]:
            if (config.get('machineType') or machine_type) not in world.MACHINE_TYPES:
                raise invalid('Invalid machine type "%s" in zone "%s".' % (config.get('machineType'), location))
            if (config.get('diskType') or 'pd-balanced') not in world.DISK_TYPES:
                raise invalid('Invalid value for field "node_config.disk_type": "%s".' % config.get('diskType'))
        version = _version(request.get('initialClusterVersion'))
        _check_telemetry(request.get('loggingService') or '', request.get('monitoringService') or '',
                         request.get('loggingService') or LOGGING_KUBERNETES,
                         request.get('monitoringService') or MONITORING_KUBERNETES)
        with self._lock:
            if (project, location, name) in self._clusters:
                raise ApiError(409, 'Already exists: projects/%s/locations/%s/clusters/%s.' % (project, location, name))
            number = self._number()
            zones = request.get('locations') or ([location] if location in world.ZONES else
                                                 ['%s-%s' % (region, z) for z in world.REGION_ZONES[region]])
            spec = self._spec(project, location, name, number, request, version, zones)
            cluster = self._new_cluster(project, location, request, spec, network, subnetwork, zones, node_config,
                                        machine_type)
            need = {}
            for pool in cluster['nodePools']:
                add(need, _node_usage(pool, (pool.get('initialNodeCount') or 0) * len(zones)))
            self.quotas.check_container(project, region, need)
            self._clusters[(project, location, name)] = cluster

        def work():
            ca_pem = backend_call(self.cluster_backend.create_cluster, spec)
            with self._lock:
                cluster['endpoint'] = spec.endpoint
                cluster['masterAuth']['clusterCaCertificate'] = base64.b64encode(ca_pem.encode()).decode()
                cluster['status'] = 'RUNNING'
                for pool in cluster['nodePools']:
                    pool['status'] = 'RUNNING'
            own = self.operations.settings.gke_operation_after_create
            if own:
                self.start_gke_operation(project, location, name, own)

        def rollback():
            with self._lock:
                self._clusters.pop((project, location, name), None)

        def failing_rolls_back():
            try:
                work()
            except ApiError:
                rollback()
                raise
        return self._start(project, location, 'CREATE_CLUSTER', cluster['selfLink'], failing_rolls_back, rollback)

    @staticmethod
    def _spec(project, location, name, number, request, version, zones):
        policy = request.get('ipAllocationPolicy') or {}
        pods = policy.get('clusterIpv4CidrBlock') or policy.get('clusterIpv4Cidr') or request.get('clusterIpv4Cidr')
        services = policy.get('servicesIpv4CidrBlock') or policy.get('servicesIpv4Cidr')
        # Cluster N: pods 10.(4+8(N-1)).0.0/14, services 10.(8+8(N-1)).0.0/20 (the first cluster: 10.4.0.0/14, 10.8.0.0/20).
        pods = pods or '10.%d.0.0/14' % (4 + 8 * (number - 1))
        services = services or '10.%d.0.0/20' % (8 + 8 * (number - 1))
        for field, cidr in (('clusterIpv4Cidr', pods), ('servicesIpv4Cidr', services)):
            try:
                ipaddress.ip_network(cidr)
            except ValueError:
                raise invalid('Invalid value for field "cluster.ipAllocationPolicy.%s": "%s" is not a valid CIDR block.' % (field, cidr)) from None
        # Each pool has initialNodeCount nodes in each of the cluster's zones, named as GKE names them:
        # gke-<cluster>-<pool>-<8 hex of the instance group>-<4 characters of the instance>.
        nodes = []
        for pool in request.get('nodePools') or [{'name': 'default-pool',
                                                  'initialNodeCount': request.get('initialNodeCount') or 3}]:
            for zone in zones:
                group = secrets.token_hex(4)
                for _index in range(pool.get('initialNodeCount') or 0):
                    nodes.append(('gke-%s-%s-%s-%s' % (name, pool['name'], group, secrets.token_hex(2)),
                                  pool['name'], zone))
        return ClusterSpec(project=project, location=location, name=name, number=number, endpoint='127.0.10.%d' % number,
                           node_ip='10.168.0.%d' % (9 + number), cluster_ipv4_cidr=pods, services_ipv4_cidr=services,
                           kubernetes_version=version, nodes=tuple(nodes))

    def _new_cluster(self, project, location, request, spec, network, subnetwork, zones, node_config, machine_type):
        region = zones[0].rsplit('-', 1)[0]
        node_config.setdefault('machineType', machine_type)
        node_config.setdefault('diskSizeGb', 100)
        node_config.setdefault('diskType', 'pd-balanced')
        node_config.setdefault('imageType', 'COS_CONTAINERD')
        node_config.setdefault('oauthScopes', _DEFAULT_SCOPES)
        node_config.setdefault('serviceAccount', 'default')
        node_config.setdefault('metadata', {'disable-legacy-endpoints': 'true'})
        node_count = request.get('initialNodeCount') or 3
        pools = request.get('nodePools') or [{'name': 'default-pool', 'initialNodeCount': node_count, 'config': node_config}]
        node_pools = []
        # A managed instance group per pool and zone, named as GKE names them (gke-<cluster>-<pool>-<8 hex>-grp),
        # with the 8 hex characters its nodes carry.
        groups = {}
        hexes = {(pool_name, zone): node.rsplit('-', 2)[1] for node, pool_name, zone in spec.nodes}
        for pool in pools:
            urls = []
            for zone in zones:
                group_hex = hexes.get((pool['name'], zone)) or secrets.token_hex(4)
                group_name = 'gke-%s-%s-%s-grp' % (spec.name, pool['name'], group_hex)
                groups[group_name] = {'name': group_name, 'zone': zone, 'pool': pool['name'],
                                      'targetSize': pool.get('initialNodeCount') or 0, 'id': _new_id(),
                                      'created': rfc3339(time.time())}
                urls.append('%sprojects/%s/zones/%s/instanceGroupManagers/%s'
                            % (COMPUTE_ROOT, project, zone, group_name))
            node_pools.append(dict(pool, status='PROVISIONING', version=spec.kubernetes_version,
                                   config=dict(node_config, **pool['config']) if pool.get('config') else node_config,
                                   locations=zones, podIpv4CidrSize=24, instanceGroupUrls=urls,
                                   selfLink=self._link(project, location, 'clusters', spec.name, 'nodePools', pool['name'])))
        cluster = {key: value for key, value in request.items() if value is not None}
        cluster.update({
            'name': spec.name, 'nodeConfig': node_config, 'nodePools': node_pools,
            'masterAuth': {key: value for key, value in (request.get('masterAuth') or {}).items() if key != 'clusterCaCertificate'},
            'loggingService': request.get('loggingService') or 'logging.googleapis.com/kubernetes',
            'monitoringService': request.get('monitoringService') or 'monitoring.googleapis.com/kubernetes',
            'network': network, 'subnetwork': subnetwork, 'clusterIpv4Cidr': spec.cluster_ipv4_cidr,
            'servicesIpv4Cidr': spec.services_ipv4_cidr, 'locations': zones, 'location': location,
            'zone': location, 'status': 'PROVISIONING', 'id': secrets.token_hex(32),
            'initialClusterVersion': spec.kubernetes_version, 'currentMasterVersion': spec.kubernetes_version,
            'currentNodeVersion': spec.kubernetes_version, 'createTime': rfc3339(time.time()),
            'labelFingerprint': secrets.token_hex(4), 'legacyAbac': request.get('legacyAbac') or {},
            'ipAllocationPolicy': dict(request.get('ipAllocationPolicy') or {}, useIpAliases=True, stackType='IPV4',
                                       clusterIpv4Cidr=spec.cluster_ipv4_cidr, clusterIpv4CidrBlock=spec.cluster_ipv4_cidr,
                                       servicesIpv4Cidr=spec.services_ipv4_cidr, servicesIpv4CidrBlock=spec.services_ipv4_cidr),
            'networkConfig': dict(request.get('networkConfig') or {}, network='projects/%s/global/networks/%s' % (project, network),
                                  subnetwork='projects/%s/regions/%s/subnetworks/%s' % (project, region, subnetwork)),
            'releaseChannel': request.get('releaseChannel') or {'channel': 'REGULAR'},
            'shieldedNodes': request.get('shieldedNodes') or {'enabled': True},
            'selfLink': self._link(project, location, 'clusters', spec.name),
            '_spec': spec,
            '_groups': groups,
        })
        cluster.pop('initialNodeCount', None)
        return cluster

    def get_cluster(self, values, _query, _body, _user):
        path = _values(values)
        return _public(self._cluster(path['project'], path['location'], path['cluster']))

    def list_clusters(self, values, _query, _body, _user):
        path = _values(values)
        location = path['location']
        if location != '-':
            self._location(location)
        with self._lock:
            found = [_public(cluster) for (project, where, _name), cluster in sorted(self._clusters.items(), key=lambda kv: kv[0])
                     if project == path['project'] and location in ('-', where)]
        return {'clusters': found} if found else {}

    def delete_cluster(self, values, _query, _body, _user):
        path = _values(values)
        cluster = self._cluster(path['project'], path['location'], path['cluster'])
        with self._lock:
            self._refuse_while_busy(path['project'], cluster)
            cluster['status'] = 'STOPPING'

        def work():
            backend_call(self.cluster_backend.delete_cluster, cluster['_spec'])
            with self._lock:
                self._clusters.pop((path['project'], path['location'], path['cluster']), None)
        return self._start(path['project'], path['location'], 'DELETE_CLUSTER', cluster['selfLink'], work)

    def update_cluster(self, values, _query, body, _user):
        path = _values(values)
        cluster = self._cluster(path['project'], path['location'], path['cluster'])
        update = body.get('update') or {}
        if not update:
            raise invalid('Update must specify at least one field to change.')
        self._refuse_while_busy(path['project'], cluster)
        _check_telemetry(update.get('desiredLoggingService') or '', update.get('desiredMonitoringService') or '',
                         update.get('desiredLoggingService') or cluster['loggingService'],
                         update.get('desiredMonitoringService') or cluster['monitoringService'])
        # The lab applies the desired* fields that name a plain Cluster field; others are accepted as no-ops
        # (they configure features the lab does not model) but still schema-checked.
        changes = {}
        for key, value in update.items():
            field = key[len('desired'):][:1].lower() + key[len('desired'):][1:] if key.startswith('desired') else None
            if field in ('loggingService', 'monitoringService', 'releaseChannel', 'shieldedNodes', 'locations',
                         'masterAuthorizedNetworksConfig', 'addonsConfig', 'networkPolicy', 'legacyAbac'):
                changes[field] = value

        def work():
            with self._lock:
                cluster.update(changes)
        return self._start(path['project'], path['location'], 'UPDATE_CLUSTER', cluster['selfLink'], work)

    def set_resource_labels(self, values, _query, body, _user):
        path = _values(values)
        cluster = self._cluster(path['project'], path['location'], path['cluster'])
        with self._lock:
            self._refuse_while_busy(path['project'], cluster)
            if body.get('labelFingerprint') != cluster['labelFingerprint']:
                raise ApiError(400, 'Labels could not be set due to fingerprint mismatch.', reason='failedPrecondition',
                               status='FAILED_PRECONDITION')
            labels = dict(body.get('resourceLabels') or {})

        def work():
            with self._lock:
                cluster['resourceLabels'] = labels
                cluster['labelFingerprint'] = secrets.token_hex(4)
                if not labels:
                    cluster.pop('resourceLabels')
        return self._start(path['project'], path['location'], 'SET_LABELS', cluster['selfLink'], work)

    # -- node pools ------------------------------------------------------------------------------------------------

    def _node_pool(self, path):
        cluster = self._cluster(path['project'], path['location'], path['cluster'])
        for pool in cluster['nodePools']:
            if pool['name'] == path['node_pool']:
                return cluster, pool
        raise not_found('projects/%s/locations/%s/clusters/%s/nodePools/%s'
                        % (path['project'], path['location'], path['cluster'], path['node_pool']))

    def get_node_pool(self, values, _query, _body, _user):
        return dict(self._node_pool(_values(values))[1])

    def list_node_pools(self, values, _query, _body, _user):
        path = _values(values)
        pools = self._cluster(path['project'], path['location'], path['cluster'])['nodePools']
        return {'nodePools': [dict(pool) for pool in pools]} if pools else {}

    def set_node_pool_size(self, values, _query, body, _user):
        """The pool's groups get ``nodeCount`` nodes each (per zone); ``initialNodeCount`` stays as it was."""
        path = _values(values)
        cluster, pool = self._node_pool(path)
        count = int(body.get('nodeCount') or 0)
        if count < 0:
            raise invalid('Invalid value for field "node_count": %d. Must be non-negative.' % count)
        with self._lock:
            self._refuse_while_busy(path['project'], cluster)
            groups = [group for group in cluster['_groups'].values() if group['pool'] == pool['name']]
            added = sum(max(0, count - group['targetSize']) for group in groups)
            self.quotas.check_container(path['project'], groups[0]['zone'].rsplit('-', 1)[0], _node_usage(pool, added))
            pool['status'] = 'RECONCILING'

        def work():
            with self._lock:
                for group in groups:
                    group['targetSize'] = count
                pool['status'] = 'RUNNING'
        return self._start(path['project'], path['location'], 'SET_NODE_POOL_SIZE', pool['selfLink'], work)

    def delete_node_pool(self, values, _query, _body, _user):
        path = _values(values)
        cluster, pool = self._node_pool(path)
        if cluster['status'] != 'RUNNING':
            raise ApiError(400, 'Cluster is not ready: its status is %s. Please wait and try again.' % cluster['status'],
                           reason='failedPrecondition', status='FAILED_PRECONDITION')
        with self._lock:
            self._refuse_while_busy(path['project'], cluster)
            pool['status'] = 'STOPPING'
            cluster['status'] = 'RECONCILING'

        def work():
            with self._lock:
                cluster['nodePools'] = [each for each in cluster['nodePools'] if each is not pool]
                for group_name in [name for name, group in cluster['_groups'].items() if group['pool'] == pool['name']]:
                    del cluster['_groups'][group_name]
                cluster['status'] = 'RUNNING'
        return self._start(path['project'], path['location'], 'DELETE_NODE_POOL', pool['selfLink'], work)

    # -- operations ------------------------------------------------------------------------------------------------

    def get_operation(self, values, _query, _body, _user):
        path = _values(values)
        with self._lock:
            operation = self._operations.get((path['project'], path['operation']))
        if operation is None or operation.scope[1] != path['location']:
            raise not_found('projects/%s/locations/%s/operations/%s' % (path['project'], path['location'], path['operation']))
        return self._operation_json(path['project'], operation)

    def list_operations(self, values, _query, _body, _user):
        path = _values(values)
        with self._lock:
            found = [op for (project, _name), op in self._operations.items()
                     if project == path['project'] and path['location'] in ('-', op.scope[1])]
        items = [self._operation_json(path['project'], op) for op in sorted(found, key=lambda op: op.created)]
        return {'operations': items} if items else {}


def _public(cluster):
    result = {key: value for key, value in cluster.items() if not key.startswith('_')}
    result['nodePools'] = [dict(pool) for pool in cluster['nodePools']]
    if not result['nodePools']:
        del result['nodePools']     # proto3 JSON leaves empty repeated fields out
    # Deprecated, and what the module once read: every node of every pool and zone, surge nodes included.
    surging = [pool for pool in cluster['nodePools'] if pool['name'] == cluster.get('_surging')]
    result['currentNodeCount'] = (sum(group['targetSize'] for group in cluster['_groups'].values())
                                  + sum(len(pool['locations']) * _MAX_SURGE for pool in surging))
    return result


def _new_id():
    return str(secrets.randbits(63))


def _node_usage(pool, nodes):
    """What ``nodes`` nodes of ``pool`` use of the regional quotas: each a VM with its boot disk and an external
    address (the lab's clusters have no private nodes)."""
    config = pool.get('config') or {}
    disk = (config.get('diskType') or _NODE_DISK_DEFAULTS['diskType'],
            config.get('diskSizeGb') or _NODE_DISK_DEFAULTS['diskSizeGb'])
    return vm_usage(config.get('machineType') or 'e2-medium', [disk], 1, nodes) if nodes else {}


def _group_json(project, cluster, group):
    zone_url = '%sprojects/%s/zones/%s' % (COMPUTE_ROOT, project, group['zone'])
    base = group['name'][:-len('-grp')]
    return {
        'kind': 'compute#instanceGroupManager', 'id': group['id'], 'name': group['name'], 'zone': zone_url,
        'creationTimestamp': group['created'], 'baseInstanceName': base,
        'instanceTemplate': '%sprojects/%s/global/instanceTemplates/%s' % (COMPUTE_ROOT, project, base),
        'instanceGroup': '%s/instanceGroups/%s' % (zone_url, group['name']),
        'targetSize': group['targetSize'], 'fingerprint': 'bGFiLWdyb3Vw',
        'currentActions': {'none': group['targetSize'], 'creating': 0, 'deleting': 0, 'recreating': 0,
                           'refreshing': 0, 'restarting': 0, 'abandoning': 0, 'verifying': 0},
        'status': {'isStable': cluster['status'] == 'RUNNING'},
        'selfLink': '%s/instanceGroupManagers/%s' % (zone_url, group['name']),
    }


def _check_telemetry(requested_logging, requested_monitoring, logging, monitoring):
    """GKE's rules for the pair of services a cluster ends up with (see the module docstring)."""
    for service, kind in ((logging, 'logging'), (monitoring, 'monitoring')):
        if service == '%s.googleapis.com' % kind:
            raise invalid('Legacy %s is not supported in clusters running Kubernetes 1.15 or above.' % kind,
                          reason='badRequest')
        if service not in ('none', '%s.googleapis.com/kubernetes' % kind):
            raise invalid('Invalid %s service "%s".' % (kind, service), reason='badRequest')
    if (logging == LOGGING_KUBERNETES) != (monitoring == MONITORING_KUBERNETES):
        raise invalid('"%s" and "%s" can only be set together (was "%s" and "%s").'
                      % (LOGGING_KUBERNETES, MONITORING_KUBERNETES, requested_logging, requested_monitoring),
                      reason='badRequest')
