"""compute v1: instances, firewalls, networks, subnetworks, zones, regions, machine types, images, operations,
the project (its common instance metadata) and the managed instance groups of GKE node pools.

Handlers get the already-checked request (path values, query, body valid per the discovery document) and apply
what the real API checks beyond the schema: existence of zones, networks, machine types and images, name
conflicts, fingerprints for set* methods, regional quotas (lab.gcp.quotas). Mutations return an Operation; the
change completes when it is DONE.
"""

import base64
import datetime
import ipaddress
import re
import secrets
import threading
import time

from lab.gcp import compute_world as world
from lab.gcp.backends import backend_call
from lab.gcp.errors import ApiError, already_exists, invalid, not_found
from lab.gcp.filters import compile_filter
from lab.gcp.operations import Operation, rfc3339
from lab.gcp.quotas import Quotas, add, vm_usage

API_ROOT = 'https://www.googleapis.com/compute/v1/'
_REFERENCE = re.compile(r'^(?:https://(?:www|compute)\.googleapis\.com/compute/v1/)?(?:projects/(?P<project>[^/]+)/)?(?P<rest>.+)$')
_WAIT_TIMEOUT = 120.0
_DEFAULT_MAX_RESULTS = 500


def _fingerprint():
    return base64.b64encode(secrets.token_bytes(8)).decode()


def _new_id():
    return str(secrets.randbits(63))


def _now():
    return rfc3339(time.time())


def _timestamp():
    # Compute shows creationTimestamp with the local offset, as in 2026-11-24T12:00:00.000-08:00.
    return datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=-8))).isoformat(timespec='milliseconds')


class _Project:
    """One project's mutable compute state."""

    def __init__(self, project):
        self.name = project
        self.instances = {zone: {} for zone in world.ZONES}
        self.firewalls = {}
        self.operations = {}
        self.used_addresses = set()
        self.external_addresses = set()
        self.created = _timestamp()
        self.metadata = {'kind': 'compute#metadata', 'fingerprint': _fingerprint()}


class ComputeApi:
    """The compute v1 stand-in; ``handlers`` maps discovery method ids to functions."""

    def __init__(self, operations, vm_backend, quotas=None):
        self.operations = operations
        self.vm_backend = vm_backend
        self.quotas = quotas or Quotas(operations.settings)
        self.quotas.providers.append(self.quota_usage)
        self._lock = threading.RLock()
        self._projects = {}
        # (project, zone, name) -> InstanceGroupManager JSON or None: GKE's node pools' groups (set by the server).
        self.instance_group_manager = lambda project, zone, name: None
        self.handlers = {
            'compute.zones.get': self.get_zone, 'compute.zones.list': self.list_zones,
            'compute.regions.get': self.get_region, 'compute.regions.list': self.list_regions,
            'compute.machineTypes.get': self.get_machine_type, 'compute.machineTypes.list': self.list_machine_types,
            'compute.images.getFromFamily': self.get_image_from_family, 'compute.images.get': self.get_image,
            'compute.networks.get': self.get_network, 'compute.networks.list': self.list_networks,
            'compute.subnetworks.get': self.get_subnetwork, 'compute.subnetworks.list': self.list_subnetworks,
            'compute.firewalls.insert': self.insert_firewall, 'compute.firewalls.get': self.get_firewall,
            'compute.firewalls.list': self.list_firewalls, 'compute.firewalls.delete': self.delete_firewall,
            'compute.firewalls.patch': self.patch_firewall, 'compute.firewalls.update': self.update_firewall,
            'compute.instances.insert': self.insert_instance, 'compute.instances.get': self.get_instance,
            'compute.instances.list': self.list_instances, 'compute.instances.aggregatedList': self.aggregated_instances,
            'compute.instances.delete': self.delete_instance, 'compute.instances.setMetadata': self.set_metadata,
            'compute.instances.setLabels': self.set_labels, 'compute.instances.setTags': self.set_tags,
            'compute.instances.start': self.start_instance, 'compute.instances.stop': self.stop_instance,
            'compute.instances.setMachineType': self.set_machine_type,
            'compute.projects.get': self.get_project,
            'compute.projects.setCommonInstanceMetadata': self.set_common_instance_metadata,
            'compute.instanceGroupManagers.get': self.get_instance_group_manager,
            'compute.instances.setDeletionProtection': self.set_deletion_protection,
            'compute.zoneOperations.get': self.get_zone_operation, 'compute.zoneOperations.list': self.list_zone_operations,
            'compute.zoneOperations.wait': self.wait_zone_operation,
            'compute.globalOperations.get': self.get_global_operation,
            'compute.globalOperations.list': self.list_global_operations,
            'compute.globalOperations.wait': self.wait_global_operation,
        }

    # -- state helpers ---------------------------------------------------------------------------------------------

    def project(self, name):
        with self._lock:
            if name not in self._projects:
                self._projects[name] = state = _Project(name)
                if self.operations.settings.os_login:
                    # What the organisation policy constraints/compute.requireOsLogin sets on a new project.
                    state.metadata['items'] = [{'key': 'enable-oslogin', 'value': 'TRUE'}]
            return self._projects[name]

    def quota_usage(self, project, region):
        """What the project's instances in ``region`` use of each quota metric (lab.gcp.quotas)."""
        total = {}
        with self._lock:
            for zone, instances in self.project(project).instances.items():
                if world.ZONES[zone] == region:
                    for instance in instances.values():
                        add(total, _instance_usage(instance))
        return total

    def _for_guest(self, project, instance):
        """The instance as the VM backend gets it: its resource, plus ``_projectMetadata``, the project's common
        metadata, which a real guest reads from the metadata server's ``project/attributes/`` (OS Login's
        ``enable-oslogin`` may be set there)."""
        with self._lock:
            return dict(_public(instance), _projectMetadata=_public(self.project(project).metadata))

    @staticmethod
    def _zone(zone):
        if zone not in world.ZONES:
            raise invalid("Invalid value for field 'zone': '%s'. Unknown zone." % zone)
        return zone

    @staticmethod
    def _region(region):
        if region not in world.REGION_ZONES:
            raise invalid("Invalid value for field 'region': '%s'. Unknown region." % region)
        return region

    @staticmethod
    def _reference(value, field, project, kind):
        """Split a resource reference (URL, ``projects/p/...`` or ``global/...``) into (project, path after it)."""
        match = _REFERENCE.match(value or '')
        rest = match.group('rest') if match else ''
        if not match or not re.fullmatch(kind, rest):
            raise invalid("Invalid value for field '%s': '%s'. The URL is malformed." % (field, value))
        return match.group('project') or project, rest

    def _network(self, project, value, field):
        ref_project, rest = self._reference(value, field, project, r'global/networks/[^/]+')
        name = rest.rsplit('/', 1)[1]
        if ref_project != project or name != 'default':
            raise not_found('projects/%s/global/networks/%s' % (ref_project, name))
        return name

    @staticmethod
    def _list(items, query, kind, link):
        predicate = compile_filter((query.get('filter') or [''])[0])
        selected = [item for item in items if predicate(item)]
        return _page({'kind': kind, 'id': link.replace(API_ROOT, ''), 'selfLink': link}, selected, query)

    # -- zones, regions, machine types, images ---------------------------------------------------------------------

    @staticmethod
    def _zone_json(project, zone):
        region = world.ZONES[zone]
        return {'kind': 'compute#zone', 'id': str(2000 + sorted(world.ZONES).index(zone)), 'name': zone, 'status': 'UP',
                'creationTimestamp': '1969-12-31T16:00:00.000-08:00', 'description': zone,
                'region': '%sprojects/%s/regions/%s' % (API_ROOT, project, region),
                'selfLink': '%sprojects/%s/zones/%s' % (API_ROOT, project, zone),
                'availableCpuPlatforms': ['Intel Broadwell', 'Intel Cascade Lake', 'AMD Milan'], 'supportsPzs': False}

    def get_zone(self, values, _query, _body, _user):
        if values['zone'] not in world.ZONES:
            raise not_found('projects/%s/zones/%s' % (values['project'], values['zone']))
        return self._zone_json(values['project'], values['zone'])

    def list_zones(self, values, query, _body, _user):
        items = [self._zone_json(values['project'], zone) for zone in sorted(world.ZONES)]
        return self._list(items, query, 'compute#zoneList', '%sprojects/%s/zones' % (API_ROOT, values['project']))

    def _region_json(self, project, region):
        return {'kind': 'compute#region', 'id': str(1000 + sorted(world.REGION_ZONES).index(region)), 'name': region,
                'status': 'UP', 'creationTimestamp': '1969-12-31T16:00:00.000-08:00', 'description': region,
                'zones': ['%sprojects/%s/zones/%s-%s' % (API_ROOT, project, region, z) for z in world.REGION_ZONES[region]],
                'quotas': self.quotas.region_quotas(project, region),
                'selfLink': '%sprojects/%s/regions/%s' % (API_ROOT, project, region), 'supportsPzs': False}

    def get_region(self, values, _query, _body, _user):
        if values['region'] not in world.REGION_ZONES:
            raise not_found('projects/%s/regions/%s' % (values['project'], values['region']))
        return self._region_json(values['project'], values['region'])

    def list_regions(self, values, query, _body, _user):
        items = [self._region_json(values['project'], region) for region in sorted(world.REGION_ZONES)]
        return self._list(items, query, 'compute#regionList', '%sprojects/%s/regions' % (API_ROOT, values['project']))

    @staticmethod
    def _machine_type_json(project, zone, name):
        cpus, memory = world.MACHINE_TYPES[name]
        return {'kind': 'compute#machineType', 'id': str(abs(hash(name)) % 10 ** 9), 'name': name, 'zone': zone,
                'guestCpus': cpus, 'memoryMb': memory, 'description': '%d vCPUs, %d MB RAM' % (cpus, memory),
                'maximumPersistentDisks': 128, 'maximumPersistentDisksSizeGb': '263168', 'isSharedCpu': name == 'e2-micro',
                'creationTimestamp': '1969-12-31T16:00:00.000-08:00',
                'selfLink': '%sprojects/%s/zones/%s/machineTypes/%s' % (API_ROOT, project, zone, name)}

    def get_machine_type(self, values, _query, _body, _user):
        zone = self._zone(values['zone'])
        if values['machineType'] not in world.MACHINE_TYPES:
            raise not_found('projects/%s/zones/%s/machineTypes/%s' % (values['project'], zone, values['machineType']))
        return self._machine_type_json(values['project'], zone, values['machineType'])

    def list_machine_types(self, values, query, _body, _user):
        zone = self._zone(values['zone'])
        items = [self._machine_type_json(values['project'], zone, name) for name in sorted(world.MACHINE_TYPES)]
        return self._list(items, query, 'compute#machineTypeList',
                          '%sprojects/%s/zones/%s/machineTypes' % (API_ROOT, values['project'], zone))

    @staticmethod
    def _image_json(project, name):
        family = next(f for f, image in world.IMAGE_FAMILIES[project].items() if image == name)
        return {'kind': 'compute#image', 'id': str(abs(hash(name)) % 10 ** 18), 'name': name, 'family': family,
                'status': 'READY', 'archiveSizeBytes': '1234567890', 'diskSizeGb': '10', 'sourceType': 'RAW',
                'architecture': 'X86_64', 'creationTimestamp': '2026-11-10T00:00:00.000-08:00',
                'licenses': ['%sprojects/%s/global/licenses/%s' % (API_ROOT, project, family.split('-')[0])],
                'selfLink': '%sprojects/%s/global/images/%s' % (API_ROOT, project, name)}

    def get_image_from_family(self, values, _query, _body, _user):
        image = world.IMAGE_FAMILIES.get(values['project'], {}).get(values['family'])
        if image is None:
            raise not_found('projects/%s/global/images/family/%s' % (values['project'], values['family']))
        return self._image_json(values['project'], image)

    def get_image(self, values, _query, _body, _user):
        if values['image'] not in world.IMAGE_FAMILIES.get(values['project'], {}).values():
            raise not_found('projects/%s/global/images/%s' % (values['project'], values['image']))
        return self._image_json(values['project'], values['image'])

    # -- the project and GKE's instance groups -----------------------------------------------------------------------

    def _project_json(self, project):
        state = self.project(project)
        with self._lock:
            metadata = dict(state.metadata)
        return {'kind': 'compute#project', 'id': str(abs(hash(project)) % 10 ** 18), 'name': project,
                'creationTimestamp': state.created, 'commonInstanceMetadata': metadata,
                'defaultServiceAccount': '%d-compute@developer.gserviceaccount.com' % (abs(hash(project)) % 10 ** 12),
                'defaultNetworkTier': 'PREMIUM', 'xpnProjectStatus': 'UNSPECIFIED_XPN_PROJECT_STATUS',
                'quotas': [{'metric': 'FIREWALLS', 'limit': 200.0, 'usage': float(len(self.firewalls(project)))}],
                'selfLink': '%sprojects/%s' % (API_ROOT, project)}

    def get_project(self, values, _query, _body, _user):
        return self._project_json(values['project'])

    def set_common_instance_metadata(self, values, _query, body, user):
        """Project metadata; every VM's guest sees the change (OS Login's ``enable-oslogin`` among others)."""
        project = values['project']
        state = self.project(project)
        with self._lock:
            self._check_fingerprint(body.get('fingerprint'), state.metadata['fingerprint'], 'metadata')
            state.metadata = {'kind': 'compute#metadata', 'fingerprint': _fingerprint()}
            if body.get('items'):
                state.metadata['items'] = body['items']

        def work():
            with self._lock:
                instances = [inst for zone in state.instances.values() for inst in zone.values()
                             if inst['status'] == 'RUNNING']
            for instance in instances:
                backend_call(self.vm_backend.update_metadata, self._for_guest(project, instance))
        return self._start(project, 'setCommonInstanceMetadata.project', ('global', None),
                           '%sprojects/%s' % (API_ROOT, project), work, None, self._project_json(project)['id'], user)

    def get_instance_group_manager(self, values, _query, _body, _user):
        zone = self._zone(values['zone'])
        group = self.instance_group_manager(values['project'], zone, values['instanceGroupManager'])
        if group is None:
            raise not_found('projects/%s/zones/%s/instanceGroupManagers/%s'
                            % (values['project'], zone, values['instanceGroupManager']))
        return group

    # -- networks --------------------------------------------------------------------------------------------------

    def _network_json(self, project):
        state = self.project(project)
        return {'kind': 'compute#network', 'id': str(abs(hash(project + '/default')) % 10 ** 18), 'name': 'default',
                'description': 'Default network for the project', 'autoCreateSubnetworks': True,
                'creationTimestamp': state.created, 'routingConfig': {'routingMode': 'REGIONAL'},
                'networkFirewallPolicyEnforcementOrder': 'AFTER_CLASSIC_FIREWALL',
                'subnetworks': ['%sprojects/%s/regions/%s/subnetworks/default' % (API_ROOT, project, r) for r in sorted(world.REGION_SUBNETS)],
                'selfLink': '%sprojects/%s/global/networks/default' % (API_ROOT, project)}

    def get_network(self, values, _query, _body, _user):
        if values['network'] != 'default':
            raise not_found('projects/%s/global/networks/%s' % (values['project'], values['network']))
        return self._network_json(values['project'])

    def list_networks(self, values, query, _body, _user):
        return self._list([self._network_json(values['project'])], query, 'compute#networkList',
                          '%sprojects/%s/global/networks' % (API_ROOT, values['project']))

    def _subnetwork_json(self, project, region):
        network = ipaddress.ip_network(world.REGION_SUBNETS[region])
        return {'kind': 'compute#subnetwork', 'id': str(abs(hash(project + region)) % 10 ** 18), 'name': 'default',
                'region': '%sprojects/%s/regions/%s' % (API_ROOT, project, region),
                'network': '%sprojects/%s/global/networks/default' % (API_ROOT, project),
                'ipCidrRange': str(network), 'gatewayAddress': str(network.network_address + 1),
                'privateIpGoogleAccess': False, 'purpose': 'PRIVATE', 'stackType': 'IPV4_ONLY',
                'fingerprint': 'bGFiLXN1Ym5ldA==', 'creationTimestamp': self.project(project).created,
                'selfLink': '%sprojects/%s/regions/%s/subnetworks/default' % (API_ROOT, project, region)}

    def get_subnetwork(self, values, _query, _body, _user):
        region = self._region(values['region'])
        if values['subnetwork'] != 'default':
            raise not_found('projects/%s/regions/%s/subnetworks/%s' % (values['project'], region, values['subnetwork']))
        return self._subnetwork_json(values['project'], region)

    def list_subnetworks(self, values, query, _body, _user):
        region = self._region(values['region'])
        return self._list([self._subnetwork_json(values['project'], region)], query, 'compute#subnetworkList',
                          '%sprojects/%s/regions/%s/subnetworks' % (API_ROOT, values['project'], region))

    # -- operations ------------------------------------------------------------------------------------------------

    def _start(self, project, operation_type, scope, target_link, work, rollback=None, target_id=None, user=None):
        state = self.project(project)
        name = 'operation-%d-%s' % (time.time() * 1000, secrets.token_hex(6))
        operation = Operation(name, operation_type, scope, target_link, target_id=target_id, user=user)
        with self._lock:
            state.operations[name] = (project, operation)
        self.operations.start(operation, work, rollback)
        return self._operation_json(project, operation)

    @staticmethod
    def _operation_json(project, operation):
        scope_kind, scope_name = operation.scope
        base = '%sprojects/%s/' % (API_ROOT, project)
        where = base + ('zones/%s/' % scope_name if scope_kind == 'zones' else 'global/')
        result = {
            'kind': 'compute#operation', 'id': operation.id, 'name': operation.name,
            'operationType': operation.operation_type.split('.')[0], 'targetLink': operation.target_link,
            'targetId': operation.target_id or '0', 'status': operation.status, 'user': operation.user or '',
            'progress': 100 if operation.status == 'DONE' else 0, 'insertTime': rfc3339(operation.created),
            'selfLink': where + 'operations/' + operation.name,
        }
        if scope_kind == 'zones':
            result['zone'] = base + 'zones/' + scope_name
        if operation.started:
            result['startTime'] = rfc3339(operation.started)
        if operation.ended:
            result['endTime'] = rfc3339(operation.ended)
        if operation.error:
            code, message = operation.error
            result['error'] = {'errors': [{'code': code, 'message': message}]}
            result['httpErrorStatusCode'] = 400
            result['httpErrorMessage'] = 'BAD REQUEST'
        return result

    def _find_operation(self, project, name, scope):
        with self._lock:
            found = self.project(project).operations.get(name)
        if found is None or found[1].scope != scope:
            where = 'zones/%s' % scope[1] if scope[0] == 'zones' else 'global'
            raise not_found('projects/%s/%s/operations/%s' % (project, where, name))
        return found[1]

    def get_zone_operation(self, values, _query, _body, _user):
        operation = self._find_operation(values['project'], values['operation'], ('zones', self._zone(values['zone'])))
        return self._operation_json(values['project'], operation)

    def wait_zone_operation(self, values, _query, _body, _user):
        operation = self._find_operation(values['project'], values['operation'], ('zones', self._zone(values['zone'])))
        self.operations.wait(operation, _WAIT_TIMEOUT)
        return self._operation_json(values['project'], operation)

    def list_zone_operations(self, values, query, _body, _user):
        scope = ('zones', self._zone(values['zone']))
        return self._list_operations(values['project'], scope, query, 'zones/%s/operations' % scope[1])

    def get_global_operation(self, values, _query, _body, _user):
        return self._operation_json(values['project'], self._find_operation(values['project'], values['operation'], ('global', None)))

    def wait_global_operation(self, values, _query, _body, _user):
        operation = self._find_operation(values['project'], values['operation'], ('global', None))
        self.operations.wait(operation, _WAIT_TIMEOUT)
        return self._operation_json(values['project'], operation)

    def list_global_operations(self, values, query, _body, _user):
        return self._list_operations(values['project'], ('global', None), query, 'global/operations')

    def _list_operations(self, project, scope, query, path):
        with self._lock:
            found = [op for _p, op in self.project(project).operations.values() if op.scope == scope]
        items = [self._operation_json(project, op) for op in sorted(found, key=lambda op: op.created)]
        return self._list(items, query, 'compute#operationList', '%sprojects/%s/%s' % (API_ROOT, project, path))

    # -- firewalls -------------------------------------------------------------------------------------------------

    def _firewall_link(self, project, name):
        return '%sprojects/%s/global/firewalls/%s' % (API_ROOT, project, name)

    def _firewall_from_request(self, project, body, existing=None):
        rule = dict(body)
        rule.pop('kind', None)
        rule['network'] = '%sprojects/%s/global/networks/%s' % (
            API_ROOT, project, self._network(project, rule.get('network') or 'global/networks/default', 'resource.network'))
        rule.setdefault('direction', 'INGRESS')
        rule.setdefault('priority', 1000)
        if not 0 <= int(rule['priority']) <= 65535:
            raise invalid("Invalid value for field 'resource.priority': '%s'. Must be between 0 and 65535." % rule['priority'])
        rule['priority'] = int(rule['priority'])
        if bool(rule.get('allowed')) == bool(rule.get('denied')):
            raise invalid("Invalid value for field 'resource': exactly one of 'allowed' or 'denied' must be specified.")
        for field in ('allowed', 'denied'):
            for index, entry in enumerate(rule.get(field) or []):
                _check_protocol(entry, 'resource.%s[%d]' % (field, index))
        ranges_field = 'sourceRanges' if rule['direction'] == 'INGRESS' else 'destinationRanges'
        for field in ('sourceRanges', 'destinationRanges'):
            for index, cidr in enumerate(rule.get(field) or []):
                try:
                    ipaddress.ip_network(cidr, strict=False)
                except ValueError:
                    raise invalid("Invalid value for field 'resource.%s[%d]': '%s'. Invalid IPV4 CIDR or IPv6 CIDR range specified."
                                  % (field, index, cidr)) from None
        if rule['direction'] == 'INGRESS' and not (rule.get('sourceRanges') or rule.get('sourceTags') or rule.get('sourceServiceAccounts')):
            rule['sourceRanges'] = ['0.0.0.0/0']
        if rule['direction'] == 'EGRESS' and not rule.get(ranges_field):
            rule['destinationRanges'] = ['0.0.0.0/0']
        rule.setdefault('disabled', False)
        rule.setdefault('logConfig', {'enable': False})
        rule.setdefault('description', '')
        rule.update({
            'kind': 'compute#firewall',
            'id': existing['id'] if existing else _new_id(),
            'creationTimestamp': existing['creationTimestamp'] if existing else _timestamp(),
            'selfLink': self._firewall_link(project, rule['name']),
        })
        return rule

    def _apply_firewalls(self, project):
        with self._lock:
            state = self.project(project)
            rules = [_public(rule) for _name, rule in sorted(self.firewalls(project).items()) if not rule.get('_pending')]
            instances = [_public(inst) for zone in state.instances.values() for inst in zone.values()]
        self.vm_backend.apply_firewalls('default', rules, instances)

    def _seed_default_firewalls(self, project):
        state = self.project(project)
        with self._lock:
            if state.firewalls:
                return
            defaults = [
                {'name': 'default-allow-icmp', 'allowed': [{'IPProtocol': 'icmp'}], 'priority': 65534,
                 'description': 'Allow ICMP from anywhere', 'sourceRanges': ['0.0.0.0/0']},
                {'name': 'default-allow-internal', 'priority': 65534, 'sourceRanges': ['10.128.0.0/9'],
                 'description': 'Allow internal traffic on the default network',
                 'allowed': [{'IPProtocol': 'tcp', 'ports': ['0-65535']}, {'IPProtocol': 'udp', 'ports': ['0-65535']},
                             {'IPProtocol': 'icmp'}]},
                {'name': 'default-allow-ssh', 'allowed': [{'IPProtocol': 'tcp', 'ports': ['22']}], 'priority': 65534,
                 'description': 'Allow SSH from anywhere', 'sourceRanges': ['0.0.0.0/0']},
            ]
            for rule in defaults:
                state.firewalls[rule['name']] = self._firewall_from_request(project, rule)

    def firewalls(self, project):
        self._seed_default_firewalls(project)
        return self.project(project).firewalls

    def insert_firewall(self, values, _query, body, user):
        project = values['project']
        firewalls = self.firewalls(project)
        rule = self._firewall_from_request(project, body)
        with self._lock:
            if rule['name'] in firewalls:
                raise already_exists('projects/%s/global/firewalls/%s' % (project, rule['name']))
            firewalls[rule['name']] = dict(rule, _pending=True)

        def work():
            with self._lock:
                firewalls[rule['name']].pop('_pending', None)
            backend_call(self._apply_firewalls, project)

        def rollback():
            with self._lock:
                firewalls.pop(rule['name'], None)
        return self._start(project, 'insert.firewall', ('global', None), rule['selfLink'], work, rollback, rule['id'], user)

    def _existing_firewall(self, project, name):
        with self._lock:
            rule = self.firewalls(project).get(name)
        if rule is None or rule.get('_pending'):
            raise not_found('projects/%s/global/firewalls/%s' % (project, name))
        return rule

    def get_firewall(self, values, _query, _body, _user):
        return _public(self._existing_firewall(values['project'], values['firewall']))

    def list_firewalls(self, values, query, _body, _user):
        with self._lock:
            items = [_public(rule) for name, rule in sorted(self.firewalls(values['project']).items()) if not rule.get('_pending')]
        return self._list(items, query, 'compute#firewallList', '%sprojects/%s/global/firewalls' % (API_ROOT, values['project']))

    def delete_firewall(self, values, _query, _body, user):
        project, name = values['project'], values['firewall']
        rule = self._existing_firewall(project, name)

        def work():
            with self._lock:
                self.firewalls(project).pop(name, None)
            backend_call(self._apply_firewalls, project)
        return self._start(project, 'delete.firewall', ('global', None), rule['selfLink'], work, None, rule['id'], user)

    def patch_firewall(self, values, _query, body, user):
        rule = self._existing_firewall(values['project'], values['firewall'])
        merged = {key: value for key, value in _public(rule).items() if key not in ('id', 'creationTimestamp', 'selfLink', 'kind')}
        merged.update({key: value for key, value in body.items() if value is not None})
        return self._replace_firewall(values, merged, rule, 'patch.firewall', user)

    def update_firewall(self, values, _query, body, user):
        rule = self._existing_firewall(values['project'], values['firewall'])
        return self._replace_firewall(values, dict(body), rule, 'update.firewall', user)

    def _replace_firewall(self, values, body, existing, operation_type, user):
        project = values['project']
        if body.get('name', existing['name']) != existing['name']:
            raise invalid("Invalid value for field 'resource.name': '%s'. The name of a firewall cannot be changed." % body['name'])
        body['name'] = existing['name']
        rule = self._firewall_from_request(project, body, existing)

        def work():
            with self._lock:
                self.firewalls(project)[rule['name']] = rule
            backend_call(self._apply_firewalls, project)
        return self._start(project, operation_type, ('global', None), rule['selfLink'], work, None, rule['id'], user)

    # -- instances -------------------------------------------------------------------------------------------------

    def _instance_link(self, project, zone, name):
        return '%sprojects/%s/zones/%s/instances/%s' % (API_ROOT, project, zone, name)

    def _existing_instance(self, project, zone, name):
        with self._lock:
            instance = self.project(project).instances[self._zone(zone)].get(name)
        if instance is None:
            raise not_found('projects/%s/zones/%s/instances/%s' % (project, zone, name))
        return instance

    def _machine_type(self, project, zone, value):
        _ref_project, rest = self._reference(value, 'resource.machineType', project, r'zones/[^/]+/machineTypes/[^/]+')
        _zones, type_zone, _types, name = rest.split('/')
        if type_zone != zone or name not in world.MACHINE_TYPES:
            raise invalid("Invalid value for field 'resource.machineType': '%s'. Machine type with name '%s' does not exist in zone '%s'."
                          % (value, name, zone))
        return '%sprojects/%s/zones/%s/machineTypes/%s' % (API_ROOT, project, zone, name)

    def _boot_image(self, project, value, field):
        ref_project, rest = self._reference(value, field, project, r'global/images/(?:family/)?[^/]+')
        families = world.IMAGE_FAMILIES.get(ref_project, {})
        name = rest.rsplit('/', 1)[1]
        image = families.get(name) if '/family/' in rest else (name if name in families.values() else None)
        if image is None:
            raise invalid("Invalid value for field '%s': '%s'. The referenced image resource cannot be found." % (field, value))
        return ref_project, image

    def _disks(self, project, zone, name, disks):
        if not disks:
            raise invalid("Invalid value for field 'resource.disks': ''. At least one disk must be specified.")
        if sum(1 for disk in disks if disk.get('boot')) != 1:
            raise invalid("Invalid value for field 'resource.disks': ''. Exactly one boot disk must be specified.")
        attached = []
        for index, disk in enumerate(disks):
            params = disk.get('initializeParams') or {}
            if not params and not disk.get('source'):
                raise invalid("Invalid value for field 'resource.disks[%d]': ''. Either source or initializeParams must be specified." % index)
            if disk.get('source'):
                raise invalid("Invalid value for field 'resource.disks[%d].source': '%s'. The referenced disk resource cannot be found."
                              % (index, disk['source']))
            image_project, image = self._boot_image(project, params.get('sourceImage'), 'resource.disks[%d].initializeParams.sourceImage' % index)
            disk_type = params.get('diskType') or 'pd-standard'
            type_name = disk_type.rsplit('/', 1)[-1]
            if type_name not in world.DISK_TYPES:
                raise invalid("Invalid value for field 'resource.disks[%d].initializeParams.diskType': '%s'. "
                              "The referenced diskType resource cannot be found." % (index, disk_type))
            disk_name = params.get('diskName') or (name if index == 0 else '%s-%d' % (name, index))
            attached.append({
                'kind': 'compute#attachedDisk', 'type': 'PERSISTENT', 'mode': disk.get('mode', 'READ_WRITE'),
                'source': '%sprojects/%s/zones/%s/disks/%s' % (API_ROOT, project, zone, disk_name),
                'deviceName': disk.get('deviceName') or ('persistent-disk-%d' % index), 'index': index,
                'boot': bool(disk.get('boot')), 'autoDelete': bool(disk.get('autoDelete', False)),
                'interface': disk.get('interface', 'SCSI'), 'diskSizeGb': str(params.get('diskSizeGb') or 10),
                'licenses': ['%sprojects/%s/global/licenses/%s' % (API_ROOT, image_project, image.split('-')[0])],
                'architecture': 'X86_64', 'guestOsFeatures': [{'type': 'VIRTIO_SCSI_MULTIQUEUE'}, {'type': 'UEFI_COMPATIBLE'}],
                '_type': type_name,
            })
        return attached

    def _allocate_address(self, state, region, requested):
        subnet = ipaddress.ip_network(world.REGION_SUBNETS[region])
        if requested:
            address = ipaddress.ip_address(requested)
            if address not in subnet:
                raise invalid("Invalid value for field 'resource.networkInterfaces[0].networkIP': '%s'. "
                              "Requested internal IP is outside the subnetwork CIDR range." % requested)
            if requested in state.used_addresses:
                raise invalid("Invalid value for field 'resource.networkInterfaces[0].networkIP': '%s'. "
                              "IP address '%s' is already being used by another resource." % (requested, requested))
            return requested
        for host in range(world.FIRST_INSTANCE_HOST, subnet.num_addresses - 2):
            candidate = str(subnet.network_address + host)
            if candidate not in state.used_addresses:
                return candidate
        raise ApiError(400, "IP space of 'default' is exhausted.", reason='ipSpaceExhausted')

    def _allocate_external(self, state):
        for host in EXTERNAL_HOSTS:
            candidate = str(host)
            if candidate not in state.external_addresses:
                state.external_addresses.add(candidate)
                return candidate
        raise ApiError(403, "Quota 'IN_USE_ADDRESSES' exceeded.", reason='quotaExceeded')

    def _network_interfaces(self, project, state, zone, interfaces):
        if not interfaces:
            raise invalid("Invalid value for field 'resource.networkInterfaces': ''. At least one network interface is required.")
        if len(interfaces) > 1:
            raise invalid("Invalid value for field 'resource.networkInterfaces': ''. The default network has one subnetwork per region; "
                          "one interface only.")
        region = world.ZONES[zone]
        nic = interfaces[0]
        network = self._network(project, nic.get('network') or 'global/networks/default', 'resource.networkInterfaces[0].network')
        if nic.get('subnetwork'):
            _p, rest = self._reference(nic['subnetwork'], 'resource.networkInterfaces[0].subnetwork', project, r'regions/[^/]+/subnetworks/[^/]+')
            _regions, subnet_region, _subnetworks, subnet_name = rest.split('/')
            if subnet_region != region or subnet_name != 'default':
                raise not_found('projects/%s/regions/%s/subnetworks/%s' % (project, subnet_region, subnet_name))
        address = self._allocate_address(state, region, nic.get('networkIP'))
        result = {
            'kind': 'compute#networkInterface', 'name': 'nic0', 'fingerprint': _fingerprint(), 'stackType': 'IPV4_ONLY',
            'network': '%sprojects/%s/global/networks/%s' % (API_ROOT, project, network),
            'subnetwork': '%sprojects/%s/regions/%s/subnetworks/default' % (API_ROOT, project, region),
            'networkIP': address,
        }
        for field in ('aliasIpRanges', 'nicType'):
            if nic.get(field):
                result[field] = nic[field]
        access = []
        for config in nic.get('accessConfigs') or []:
            if config.get('type', 'ONE_TO_ONE_NAT') != 'ONE_TO_ONE_NAT':
                raise invalid("Invalid value for field 'resource.networkInterfaces[0].accessConfigs[0].type': '%s'." % config['type'])
            access.append({'kind': 'compute#accessConfig', 'type': 'ONE_TO_ONE_NAT', 'name': config.get('name') or 'External NAT',
                           'natIP': config.get('natIP') or self._allocate_external(state),
                           'networkTier': config.get('networkTier') or 'PREMIUM'})
        if access:
            result['accessConfigs'] = access
        return result

    def insert_instance(self, values, _query, body, user):
        project, zone = values['project'], self._zone(values['zone'])
        state = self.project(project)
        name = body.get('name')
        if not name:
            raise invalid("Required field 'resource.name' not specified", reason='required')
        with self._lock:
            if name in state.instances[zone]:
                raise already_exists('projects/%s/zones/%s/instances/%s' % (project, zone, name))
            machine_type = self._machine_type(project, zone, body.get('machineType'))
            disks = self._disks(project, zone, name, body.get('disks'))
            usage = vm_usage(machine_type.rsplit('/', 1)[-1], [(disk['_type'], disk['diskSizeGb']) for disk in disks],
                             sum(len(nic.get('accessConfigs') or []) for nic in body.get('networkInterfaces') or []))
            self.quotas.check_compute(project, world.ZONES[zone], usage)
            disks = [_public(disk) for disk in disks]
            nic = self._network_interfaces(project, state, zone, body.get('networkInterfaces'))
            state.used_addresses.add(nic['networkIP'])
            instance = {key: value for key, value in body.items() if key not in ('status', 'kind') and value is not None}
            metadata = dict(body.get('metadata') or {})
            tags = dict(body.get('tags') or {})
            instance.update({
                'kind': 'compute#instance', 'id': _new_id(), 'creationTimestamp': _timestamp(), 'name': name,
                'machineType': machine_type, 'status': 'PROVISIONING', 'zone': '%sprojects/%s/zones/%s' % (API_ROOT, project, zone),
                'disks': disks, 'networkInterfaces': [nic],
                'metadata': dict(metadata, kind='compute#metadata', fingerprint=_fingerprint()),
                'tags': dict(tags, fingerprint=_fingerprint()), 'labels': body.get('labels') or {},
                'labelFingerprint': _fingerprint(), 'fingerprint': _fingerprint(),
                'scheduling': dict({'onHostMaintenance': 'MIGRATE', 'automaticRestart': True, 'preemptible': False,
                                    'provisioningModel': 'STANDARD'}, **(body.get('scheduling') or {})),
                'canIpForward': bool(body.get('canIpForward')), 'deletionProtection': bool(body.get('deletionProtection')),
                'cpuPlatform': 'Unknown CPU Platform', 'startRestricted': False,
                'selfLink': self._instance_link(project, zone, name),
                '_usage': usage,
            })
            if not instance['labels']:
                instance.pop('labels')
            state.instances[zone][name] = instance

        def work():
            with self._lock:
                instance['status'] = 'STAGING'
            # Rules first, so the VM boots behind its firewall; again after, for rules that name its tags as sources.
            backend_call(self._apply_firewalls, project)
            backend_call(self.vm_backend.create_instance, self._for_guest(project, instance))
            with self._lock:
                instance.update(status='RUNNING', cpuPlatform='Intel Broadwell', lastStartTimestamp=_timestamp())
            backend_call(self._apply_firewalls, project)

        def rollback():
            with self._lock:
                state.instances[zone].pop(name, None)
                state.used_addresses.discard(nic['networkIP'])
        return self._start(project, 'insert.instance', ('zones', zone), instance['selfLink'], _failing_rolls_back(work, rollback),
                           rollback, instance['id'], user)

    def get_instance(self, values, _query, _body, _user):
        return _public(self._existing_instance(values['project'], values['zone'], values['instance']))

    def list_instances(self, values, query, _body, _user):
        zone = self._zone(values['zone'])
        with self._lock:
            items = [_public(inst) for _name, inst in sorted(self.project(values['project']).instances[zone].items())]
        return self._list(items, query, 'compute#instanceList', '%sprojects/%s/zones/%s/instances' % (API_ROOT, values['project'], zone))

    def aggregated_instances(self, values, query, _body, _user):
        project = values['project']
        predicate = compile_filter((query.get('filter') or [''])[0])
        scoped = []
        with self._lock:
            for zone in sorted(world.ZONES):
                for _name, inst in sorted(self.project(project).instances[zone].items()):
                    if predicate(_public(inst)):
                        scoped.append(('zones/' + zone, _public(inst)))
        page = _page({}, scoped, query)
        items = {}
        for scope, inst in page.pop('items', []):
            items.setdefault(scope, {'instances': []})['instances'].append(inst)
        for zone in sorted(world.ZONES):
            items.setdefault('zones/' + zone, {'warning': {
                'code': 'NO_RESULTS_ON_PAGE', 'message': "There are no results for scope 'zones/%s' on this page." % zone,
                'data': [{'key': 'scope', 'value': 'zones/' + zone}]}})
        page.update({'kind': 'compute#instanceAggregatedList', 'id': 'projects/%s/aggregated/instances' % project,
                     'items': items, 'selfLink': '%sprojects/%s/aggregated/instances' % (API_ROOT, project)})
        return page

    def delete_instance(self, values, _query, _body, user):
        project, zone, name = values['project'], values['zone'], values['instance']
        instance = self._existing_instance(project, zone, name)
        if instance.get('deletionProtection'):
            raise invalid("The instance 'projects/%s/zones/%s/instances/%s' cannot be deleted: deletion protection is enabled."
                          % (project, zone, name), reason='resourceInUseByAnotherResource')
        state = self.project(project)

        def work():
            with self._lock:
                instance['status'] = 'STOPPING'
            backend_call(self.vm_backend.delete_instance, name)
            with self._lock:
                state.instances[zone].pop(name, None)
                state.used_addresses.discard(instance['networkInterfaces'][0]['networkIP'])
                for config in instance['networkInterfaces'][0].get('accessConfigs', []):
                    state.external_addresses.discard(config.get('natIP'))
            backend_call(self._apply_firewalls, project)
        return self._start(project, 'delete.instance', ('zones', zone), instance['selfLink'], work, None, instance['id'], user)

    def _set_field(self, values, user, operation_type, change, after=None):
        project, zone, name = values['project'], values['zone'], values['instance']
        instance = self._existing_instance(project, zone, name)
        with self._lock:
            change(instance)

        def work():
            if after is not None:
                backend_call(after, project, instance)
        return self._start(project, operation_type, ('zones', zone), instance['selfLink'], work, None, instance['id'], user)

    @staticmethod
    def _check_fingerprint(given, current, what):
        if given != current:
            raise ApiError(412, 'Supplied fingerprint does not match current %s fingerprint.' % what, reason='conditionNotMet',
                           location='If-Match', locationType='header')

    def set_metadata(self, values, _query, body, user):
        def change(instance):
            self._check_fingerprint(body.get('fingerprint'), instance['metadata']['fingerprint'], 'metadata')
            items = body.get('items') or []
            instance['metadata'] = {'kind': 'compute#metadata', 'fingerprint': _fingerprint()}
            if items:
                instance['metadata']['items'] = items
        return self._set_field(values, user, 'setMetadata.instance', change,
                               lambda project, instance: self.vm_backend.update_metadata(
                                   self._for_guest(project, instance)))

    def set_labels(self, values, _query, body, user):
        def change(instance):
            self._check_fingerprint(body.get('labelFingerprint'), instance['labelFingerprint'], 'label')
            instance.pop('labels', None)
            if body.get('labels'):
                instance['labels'] = body['labels']
            instance['labelFingerprint'] = _fingerprint()
        return self._set_field(values, user, 'setLabels.instance', change)

    def set_tags(self, values, _query, body, user):
        def change(instance):
            self._check_fingerprint(body.get('fingerprint'), instance['tags']['fingerprint'], 'tags')
            instance['tags'] = {'fingerprint': _fingerprint()}
            if body.get('items'):
                instance['tags']['items'] = body['items']
        return self._set_field(values, user, 'setTags.instance', change, lambda project, _instance: self._apply_firewalls(project))

    def set_machine_type(self, values, _query, body, user):
        def change(instance):
            if instance['status'] != 'TERMINATED':
                raise invalid("Invalid resource usage: 'Instance is starting or running. Stop it before changing its machine type.'",
                              reason='resourceNotReady')
            instance['machineType'] = self._machine_type(values['project'], values['zone'], body.get('machineType'))
        return self._set_field(values, user, 'setMachineType.instance', change)

    def set_deletion_protection(self, values, query, _body, user):
        wanted = (query.get('deletionProtection') or ['true'])[0].lower() in ('true', '1')

        def change(instance):
            instance['deletionProtection'] = wanted
        return self._set_field(values, user, 'setDeletionProtection.instance', change)

    def start_instance(self, values, _query, _body, user):
        project, zone = values['project'], values['zone']
        instance = self._existing_instance(project, zone, values['instance'])

        def work():
            backend_call(self.vm_backend.start_instance, instance['name'])
            with self._lock:
                instance.update(status='RUNNING', lastStartTimestamp=_timestamp())
        return self._start(project, 'start.instance', ('zones', zone), instance['selfLink'], work, None, instance['id'], user)

    def stop_instance(self, values, _query, _body, user):
        project, zone = values['project'], values['zone']
        instance = self._existing_instance(project, zone, values['instance'])

        def work():
            with self._lock:
                instance['status'] = 'STOPPING'
            backend_call(self.vm_backend.stop_instance, instance['name'])
            with self._lock:
                instance.update(status='TERMINATED', lastStopTimestamp=_timestamp())
        return self._start(project, 'stop.instance', ('zones', zone), instance['selfLink'], work, None, instance['id'], user)


EXTERNAL_HOSTS = list(world.EXTERNAL_RANGE.hosts())[9:]


def _failing_rolls_back(work, rollback):
    """A failed insert leaves no instance behind, as in GCP."""
    def run():
        try:
            work()
        except ApiError:
            rollback()
            raise
    return run


def _instance_usage(instance):
    return instance.get('_usage') or {}


def _public(resource):
    return {key: value for key, value in resource.items() if not key.startswith('_')}


def _check_protocol(entry, field):
    protocol = str(entry.get('IPProtocol', ''))
    known = ('tcp', 'udp', 'icmp', 'esp', 'ah', 'sctp', 'ipip', 'all')
    if protocol not in known and not (protocol.isdigit() and 0 <= int(protocol) <= 255):
        raise invalid("Invalid value for field '%s.IPProtocol': '%s'. Invalid IP protocol specification." % (field, protocol))
    for index, port in enumerate(entry.get('ports') or []):
        if protocol not in ('tcp', 'udp', 'sctp', '6', '17', '132'):
            raise invalid("Invalid value for field '%s.ports[%d]': '%s'. Ports may only be specified for tcp, udp or sctp."
                          % (field, index, port))
        bounds = port.split('-')
        if len(bounds) > 2 or not all(b.isdigit() and 0 <= int(b) <= 65535 for b in bounds) or int(bounds[0]) > int(bounds[-1]):
            raise invalid("Invalid value for field '%s.ports[%d]': '%s'. Invalid port specification." % (field, index, port))


def _page(envelope, items, query):
    """Cut ``items`` to ``maxResults`` from ``pageToken`` on; the token is the next offset, opaque to clients."""
    size = int((query.get('maxResults') or [_DEFAULT_MAX_RESULTS])[0])
    token = (query.get('pageToken') or [''])[0]
    try:
        start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
    except ValueError:
        raise invalid("Invalid value for field 'pageToken': '%s'. Invalid page token." % token) from None
    result = dict(envelope)
    if items[start:start + size]:
        # Compute leaves ``items`` out of an empty page.
        result['items'] = items[start:start + size]
    if start + size < len(items):
        result['nextPageToken'] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return result
