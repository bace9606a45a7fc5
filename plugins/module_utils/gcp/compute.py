# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compute Engine v1 resources: firewalls and instances, reconciled on the fields the modules manage."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import GcpInputError
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.operations import Poller
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.resource import ManagedResource
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.validation import (
    check_cidr, check_labels, check_name, check_ports, check_tags)

COMPUTE_API = 'https://compute.googleapis.com/compute/v1'
SCOPE_PREFIX = 'https://www.googleapis.com/auth/'
# The Compute Engine default service account, which the API returns by its real address.
_DEFAULT_SA_SUFFIX = '-compute@developer.gserviceaccount.com'


def short_name(url_or_name):
    """``n1-standard-2`` from ``https://.../machineTypes/n1-standard-2`` (or from ``n1-standard-2``)."""
    return (url_or_name or '').rstrip('/').rsplit('/', 1)[-1]


def _operation_url(operation, fallback):
    return operation.get('selfLink') or fallback


class Firewall(ManagedResource):
    """An INGRESS allow rule of a VPC network."""

    IMMUTABLE = frozenset(['network', 'direction'])
    RESULT_KEY = 'firewall'

    def __init__(self, client, params, waiter=None):
        super(Firewall, self).__init__(client, params, waiter)
        self.project = params['project']
        self.name = check_name('name', params['name'])
        self.self_link = '%s/projects/%s/global/firewalls/%s' % (COMPUTE_API, self.project, self.name)
        if params['state'] == 'present':
            self._validate()

    def _validate(self):
        params = self.params
        check_name('network', short_name(params['network']))
        if not params['source_ranges'] and not params['source_tags']:
            raise GcpInputError('give source_ranges or source_tags: a rule without a source would match nothing')
        for cidr in params['source_ranges'] or []:
            check_cidr('source_ranges item', cidr)
        check_tags('target_tags', params['target_tags'] or [])
        check_tags('source_tags', params['source_tags'] or [])
        if not params['allowed']:
            raise GcpInputError('allowed is empty: give at least one {protocol, ports} entry')
        for rule in params['allowed']:
            check_ports('allowed ports of %s' % rule['protocol'], rule.get('ports') or [])
            if rule.get('ports') and rule['protocol'] not in ('tcp', 'udp', 'sctp'):
                raise GcpInputError('allowed: ports apply to tcp, udp and sctp only, not %s' % rule['protocol'])
        if not 0 <= params['priority'] <= 65535:
            raise GcpInputError('priority=%s is out of range: use 0-65535 (lower wins)' % params['priority'])

    @staticmethod
    def _allowed_view(allowed):
        view = [{'IPProtocol': rule.get('IPProtocol', rule.get('protocol')), 'ports': sorted(rule.get('ports') or [])}
                for rule in allowed or []]
        return sorted(view, key=lambda rule: (rule['IPProtocol'], rule['ports']))

    def desired_view(self):
        params = self.params
        return {
            'network': short_name(params['network']),
            'direction': 'INGRESS',
            'priority': params['priority'],
            'description': params['description'] or '',
            'sourceRanges': sorted(check_cidr('source_ranges item', cidr) for cidr in params['source_ranges'] or []),
            'sourceTags': sorted(params['source_tags'] or []),
            'targetTags': sorted(params['target_tags'] or []),
            'allowed': self._allowed_view(params['allowed']),
        }

    def current_view(self, firewall):
        return {
            'network': short_name(firewall.get('network')),
            'direction': firewall.get('direction', 'INGRESS'),
            'priority': int(firewall.get('priority', 1000)),
            'description': firewall.get('description', ''),
            'sourceRanges': sorted(firewall.get('sourceRanges') or []),
            'sourceTags': sorted(firewall.get('sourceTags') or []),
            'targetTags': sorted(firewall.get('targetTags') or []),
            'allowed': self._allowed_view(firewall.get('allowed')),
        }

    def _body(self, fields):
        view = self.desired_view()
        body = dict((field, view[field]) for field in fields)
        if 'network' in body:
            body['network'] = '%s/projects/%s/global/networks/%s' % (COMPUTE_API, self.project, body['network'])
        if 'allowed' in body:
            body['allowed'] = [dict(rule) if rule['ports'] else {'IPProtocol': rule['IPProtocol']} for rule in body['allowed']]
        return body

    def _wait(self, operation):
        fallback = '%s/projects/%s/global/operations/%s' % (COMPUTE_API, self.project, operation.get('name'))
        self.waiter.wait(operation, _operation_url(operation, fallback), self.params['operation_timeout'])

    def create(self):
        body = self._body(self.desired_view())
        body['name'] = self.name
        self._wait(self.client.post('%s/projects/%s/global/firewalls' % (COMPUTE_API, self.project), body))
        return self.client.get(self.self_link)

    def update(self, current, fields):
        body = self._body(fields)
        body['name'] = self.name  # the API requires the name in a patch too
        self._wait(self.client.patch(self.self_link, body))
        return self.client.get(self.self_link)

    def delete(self, current):
        self._wait(self.client.delete(self.self_link))


class Instance(ManagedResource):
    """A VM with one boot disk and one network interface. Image, disk, network and external address are used
    at creation only; labels, network tags and the metadata keys given are kept in sync."""

    # Changing these needs a stopped instance; the module does not stop VMs on its own.
    IMMUTABLE = frozenset(['machineType', 'serviceAccount'])
    RESULT_KEY = 'instance'
    _TRANSIENT = ('PROVISIONING', 'STAGING')

    def __init__(self, client, params, waiter=None, poller=None):
        super(Instance, self).__init__(client, params, waiter)
        self.project = params['project']
        self.zone = params['zone']
        self.name = check_name('name', params['name'])
        self.zone_url = '%s/projects/%s/zones/%s' % (COMPUTE_API, self.project, self.zone)
        self.self_link = '%s/instances/%s' % (self.zone_url, self.name)
        self._poller = poller or Poller()
        if params['state'] == 'present':
            self._validate()

    def _validate(self):
        params = self.params
        check_name('zone', self.zone)
        check_name('network', short_name(params['network']))
        check_labels('labels', params['labels'])
        check_tags('tags', params['tags'] or [])
        if params['disk_size_gb'] < 10:
            raise GcpInputError('disk_size_gb=%s is below the 10 GB minimum of a boot disk' % params['disk_size_gb'])

    def _scopes(self):
        return sorted(scope if '://' in scope else SCOPE_PREFIX + scope for scope in self.params['scopes_for_vm'] or [])

    def desired_view(self):
        params = self.params
        account = None
        if params['service_account_email']:
            account = {'email': params['service_account_email'], 'scopes': self._scopes()}
        return {
            'machineType': params['machine_type'],
            'labels': check_labels('labels', params['labels']),
            'tags': check_tags('tags', params['tags'] or []),
            'metadata': dict((key, str(value)) for key, value in (params['metadata'] or {}).items()),
            'serviceAccount': account,
        }

    def current_view(self, instance):
        wanted_metadata = self.params.get('metadata') or {}
        items = dict((item['key'], item.get('value')) for item in (instance.get('metadata') or {}).get('items') or [])
        accounts = instance.get('serviceAccounts') or []
        account = None
        if accounts:
            email = accounts[0].get('email')
            if self.params['service_account_email'] == 'default' and (email or '').endswith(_DEFAULT_SA_SUFFIX):
                email = 'default'
            account = {'email': email, 'scopes': sorted(accounts[0].get('scopes') or [])}
        return {
            'machineType': short_name(instance.get('machineType')),
            'labels': instance.get('labels') or {},
            'tags': sorted((instance.get('tags') or {}).get('items') or []),
            # Only the keys this module sets: other metadata (ssh-keys added by gcloud or OS Login) is left alone.
            'metadata': dict((key, items[key]) for key in wanted_metadata if key in items),
            'serviceAccount': account,
        }

    def _wait(self, operation):
        fallback = '%s/operations/%s' % (self.zone_url, operation.get('name'))
        return self.waiter.wait(operation, _operation_url(operation, fallback), self.params['operation_timeout'])

    def settle(self, current, check_mode):
        if current.get('status') not in self._TRANSIENT:
            return current
        instance, dummy, dummy = self._poller.until(
            read=lambda: self.client.get(self.self_link),
            is_done=lambda instance: instance.get('status') not in self._TRANSIENT,
            timeout=self.params['operation_timeout'],
            describe=lambda instance: 'instance %s is still %s' % (self.name, instance.get('status')))
        return instance

    def create(self):
        params = self.params
        view = self.desired_view()
        interface = {'network': '%s/projects/%s/global/networks/%s' % (COMPUTE_API, self.project, short_name(params['network']))}
        if params['subnetwork']:
            interface['subnetwork'] = params['subnetwork']
        if params['external_ip']:
            interface['accessConfigs'] = [{'name': 'External NAT', 'type': 'ONE_TO_ONE_NAT'}]
        body = {
            'name': self.name,
            'machineType': '%s/machineTypes/%s' % (self.zone_url, params['machine_type']),
            'disks': [{'boot': True, 'autoDelete': True, 'initializeParams': {
                'sourceImage': params['image'], 'diskSizeGb': str(params['disk_size_gb']),
                'diskType': '%s/diskTypes/%s' % (self.zone_url, params['disk_type'])}}],
            'networkInterfaces': [interface],
            'labels': view['labels'],
            'tags': {'items': view['tags']},
            'metadata': {'items': [{'key': key, 'value': value} for key, value in sorted(view['metadata'].items())]},
        }
        if view['serviceAccount']:
            body['serviceAccounts'] = [view['serviceAccount']]
        self._wait(self.client.post('%s/instances' % self.zone_url, body))
        return self.settle(self.client.get(self.self_link), False)

    def update(self, current, fields):
        view = self.desired_view()
        if 'labels' in fields:
            self._wait(self.client.post(self.self_link + '/setLabels', {
                'labels': view['labels'], 'labelFingerprint': current.get('labelFingerprint')}))
        if 'tags' in fields:
            self._wait(self.client.post(self.self_link + '/setTags', {
                'items': view['tags'], 'fingerprint': (current.get('tags') or {}).get('fingerprint')}))
        if 'metadata' in fields:
            metadata = current.get('metadata') or {}
            merged = dict((item['key'], item.get('value')) for item in metadata.get('items') or [])
            merged.update(view['metadata'])
            self._wait(self.client.post(self.self_link + '/setMetadata', {
                'fingerprint': metadata.get('fingerprint'),
                'items': [{'key': key, 'value': value} for key, value in sorted(merged.items())]}))
        return self.client.get(self.self_link)

    def delete(self, current):
        self._wait(self.client.delete(self.self_link))
