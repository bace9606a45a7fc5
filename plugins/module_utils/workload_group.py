# -*- coding: utf-8 -*-
# Copyright (c) meshbridge.istio_vm contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One VM workload as Kubernetes objects: what mesh_add_vm asks for, checked, and the objects that express it
(ServiceAccount, WorkloadGroup, Service, static WorkloadEntry; or the legacy Service + ServiceEntry that
``istioctl x add-to-mesh external-service`` made)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import ipaddress
import re

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import go_yaml
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.vm_bundle import PROXY_CONFIG_ANNOTATION

MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by'
MANAGED_BY = 'meshbridge.istio_vm'
SERVICE_ACCOUNT_ANNOTATION = 'kubernetes.io/service-account.name'
# Names the group a Service belongs to when the Service's own name does not (see service_group).
GROUP_ANNOTATION = 'meshbridge.io/workload-group'
CLUSTER_DOMAIN = 'cluster.local'
# The API server's limit on the total size of an object's annotations (keys and values).
_ANNOTATIONS_MAX_BYTES = 256 * 1024

# Istio picks a port's protocol from its name, "<protocol>[-<suffix>]" (Istio docs, "Protocol Selection").
PROTOCOLS = ('grpc', 'grpc-web', 'http', 'http2', 'https', 'mongo', 'mysql', 'redis', 'tcp', 'tls', 'udp')
PROBE_KINDS = ('http_get', 'tcp_socket', 'grpc', 'exec')

_DNS1123_LABEL = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')
_DNS1035_LABEL = re.compile(r'^[a-z]([-a-z0-9]*[a-z0-9])?$')
_DNS1123_SUBDOMAIN = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')
_LABEL_NAME = re.compile(r'^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$')


class WorkloadSpecError(ValueError):
    """A parameter that cannot describe a VM workload; the message names the parameter and the fix."""


def _check_dns_label(value, parameter, first_letter=False):
    pattern = _DNS1035_LABEL if first_letter else _DNS1123_LABEL
    if not value or len(value) > 63 or not pattern.match(value):
        raise WorkloadSpecError(
            '%s %r is not a valid Kubernetes name: use at most 63 lower-case letters, digits and "-", %s'
            % (parameter, value, 'starting with a letter' if first_letter else 'starting and ending with a letter or digit'))


def _check_label(key, value, parameter):
    prefix, _sep, name = key.rpartition('/')
    valid_key = (len(name) <= 63 and _LABEL_NAME.match(name)
                 and (not prefix or (len(prefix) <= 253 and _DNS1123_SUBDOMAIN.match(prefix))))
    if not valid_key:
        raise WorkloadSpecError('%s key %r is not a valid label key: [prefix/]name, name at most 63 letters, digits, '
                                '"-", "_", "." starting and ending with a letter or digit' % (parameter, key))
    if not isinstance(value, str) or len(value) > 63 or (value and not _LABEL_NAME.match(value)):
        raise WorkloadSpecError('%s[%r] = %r is not a valid label value: at most 63 letters, digits, "-", "_", "." '
                                'starting and ending with a letter or digit' % (parameter, key, value))


def _check_annotations(annotations):
    """Annotation keys have the form of label keys; values are strings (any text, up to the API server's 256 KiB
    for all of an object's annotations). proxy.istio.io/config must be a YAML mapping of ProxyConfig fields, which
    istioctl and istiod parse."""
    if not isinstance(annotations, dict):
        raise WorkloadSpecError('annotations must be a mapping of annotation keys to string values')
    for key, value in annotations.items():
        prefix, _sep, name = key.rpartition('/')
        if not (len(name) <= 63 and _LABEL_NAME.match(name)
                and (not prefix or (len(prefix) <= 253 and _DNS1123_SUBDOMAIN.match(prefix)))):
            raise WorkloadSpecError('annotations key %r is not a valid annotation key: [prefix/]name, name at most 63 '
                                    'letters, digits, "-", "_", "." starting and ending with a letter or digit, prefix '
                                    'a DNS subdomain' % key)
        if key == GROUP_ANNOTATION:
            raise WorkloadSpecError('annotations key %r is the one mesh_add_vm sets itself (it names the workload '
                                    'group of an entry or Service): remove it from annotations' % key)
        if not isinstance(value, str):
            raise WorkloadSpecError('annotations[%r] = %r is not a string: annotation values are text; quote it (or '
                                    'give structured values as YAML text, for example with to_yaml)' % (key, value))
    if sum(len(key) + len(value) for key, value in annotations.items()) > _ANNOTATIONS_MAX_BYTES:
        raise WorkloadSpecError('annotations are longer than the %d bytes the API server takes for all of an object\'s '
                                'annotations: shorten them' % _ANNOTATIONS_MAX_BYTES)
    config = annotations.get(PROXY_CONFIG_ANNOTATION)
    if config is not None:
        try:
            parsed = go_yaml.yaml.safe_load(config)
        except go_yaml.yaml.YAMLError as error:
            raise WorkloadSpecError('annotations[%r] is not YAML: %s; give ProxyConfig fields as YAML text, for '
                                    'example "concurrency: 2"' % (PROXY_CONFIG_ANNOTATION, error)) from None
        if parsed is not None and not isinstance(parsed, dict):
            raise WorkloadSpecError('annotations[%r] must be a YAML mapping of ProxyConfig fields (for example '
                                    '"concurrency: 2"), not %s' % (PROXY_CONFIG_ANNOTATION, type(parsed).__name__))
        metadata = (parsed or {}).get('proxyMetadata')
        if metadata is not None and not (isinstance(metadata, dict)
                                         and all(isinstance(value, str) for value in metadata.values())):
            raise WorkloadSpecError('annotations[%r]: proxyMetadata must map names to strings; quote values such as '
                                    'true or 1' % PROXY_CONFIG_ANNOTATION)


def service_group(service):
    """The workload group a Service this module made belongs to. A Service named after its group carries no
    annotation: that is the one Service earlier versions made, so their Services keep their group unchanged."""
    metadata = service['metadata']
    return (metadata.get('annotations') or {}).get(GROUP_ANNOTATION) or metadata['name']


def check_ip(value, parameter):
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise WorkloadSpecError('%s %r is not an IP address' % (parameter, value)) from None


class Port:
    """A service port of the VM workload; its name tells Istio the protocol."""

    def __init__(self, number, protocol, name):
        self.number = number
        self.protocol = protocol
        self.name = name

    @classmethod
    def from_param(cls, param):
        number, protocol = param['number'], param['protocol']
        if not 1 <= number <= 65535:
            raise WorkloadSpecError('ports: number %r is outside 1-65535' % number)
        if protocol not in PROTOCOLS:
            raise WorkloadSpecError('ports: protocol %r of port %d is not one Istio knows; use one of %s'
                                    % (protocol, number, ', '.join(PROTOCOLS)))
        name = param.get('name') or '%s-%d' % (protocol, number)
        _check_dns_label(name, 'ports: name')
        if name != protocol and not name.startswith(protocol + '-'):
            raise WorkloadSpecError('ports: name %r must be "%s" or start with "%s-" so that Istio reads the protocol '
                                    'from it (or leave name out for "%s-%d")' % (name, protocol, protocol, protocol, number))
        return cls(number, protocol, name)

    def service_port(self):
        return {'name': self.name, 'port': self.number, 'targetPort': self.number, 'protocol': 'UDP' if self.protocol == 'udp' else 'TCP'}


VmService = collections.namedtuple('VmService', 'name ports')


def _probe(param):
    """The WorkloadGroup probe (Istio's ReadinessProbe, JSON names) from the module's snake_case option."""
    if not param:
        return None
    kinds = [kind for kind in PROBE_KINDS if param.get(kind)]
    if len(kinds) != 1:
        raise WorkloadSpecError('probe: set exactly one of %s' % ', '.join(PROBE_KINDS))
    probe = {}
    for option, field in (('initial_delay_seconds', 'initialDelaySeconds'), ('timeout_seconds', 'timeoutSeconds'),
                          ('period_seconds', 'periodSeconds'), ('success_threshold', 'successThreshold'),
                          ('failure_threshold', 'failureThreshold')):
        if param.get(option) is not None:
            if param[option] < 0:
                raise WorkloadSpecError('probe: %s must not be negative' % option)
            probe[field] = param[option]
    check = param[kinds[0]]
    if kinds[0] == 'exec':
        if not check.get('command'):
            raise WorkloadSpecError('probe: exec.command must name the command to run')
        probe['exec'] = {'command': list(check['command'])}
        return probe
    port = check.get('port')
    if port is None or not 1 <= port <= 65535:
        raise WorkloadSpecError('probe: %s.port must be a port number 1-65535' % kinds[0])
    if kinds[0] == 'http_get':
        probe['httpGet'] = dict((field, check[option]) for option, field in (
            ('path', 'path'), ('port', 'port'), ('host', 'host'), ('scheme', 'scheme')) if check.get(option))
        if check.get('http_headers'):
            probe['httpGet']['httpHeaders'] = [{'name': header['name'], 'value': header['value']}
                                               for header in check['http_headers']]
    elif kinds[0] == 'tcp_socket':
        probe['tcpSocket'] = dict((field, check[field]) for field in ('host', 'port') if check.get(field))
    else:
        probe['grpc'] = dict((field, check[field]) for field in ('port', 'service') if check.get(field))
    return probe


class VmWorkload:
    """The VM workload group mesh_add_vm manages, validated from the module's parameters."""

    def __init__(self, params):
        self.name = params['name']
        self.namespace = params['namespace']
        self.service_account = params.get('service_account') or self.name
        self.labels = dict(params.get('labels') or {'app': self.name})
        self.annotations = dict(params.get('annotations') or {})
        self.network = params.get('network') or ''
        self.address = params.get('address') or ''
        self.auto_register = params.get('auto_register', True)
        self.legacy = params.get('mode') == 'legacy'
        _check_dns_label(self.name, 'name', first_letter=True)
        _check_dns_label(self.namespace, 'namespace')
        if len(self.service_account) > 253 or not _DNS1123_SUBDOMAIN.match(self.service_account):
            raise WorkloadSpecError('service_account %r is not a valid ServiceAccount name: lower-case letters, digits, '
                                    '"-" and "."' % self.service_account)
        for key, value in self.labels.items():
            _check_label(key, value, 'labels')
        if not self.labels:
            raise WorkloadSpecError('labels must not be empty: the Service selects the VM by them')
        _check_annotations(self.annotations)
        self.ports = [Port.from_param(port) for port in params.get('ports') or []]
        for attribute, what in (('name', 'names'), ('number', 'numbers')):
            values = [getattr(port, attribute) for port in self.ports]
            if len(set(values)) != len(values):
                raise WorkloadSpecError('ports: port %s must be unique, got %s' % (what, values))
        self.probe = _probe(params.get('probe'))
        if self.address:
            check_ip(self.address, 'address')
        if params.get('state', 'present') == 'absent':
            self.services = []  # absent finds the group's Services in the cluster, by service_group
            return  # naming the group is enough to find what to delete
        if params.get('ports') is None:
            raise WorkloadSpecError('ports is required: list the ports the VM serves (number and protocol), or give '
                                    'ports: [] for a VM that serves none and only calls services in the mesh')
        if not self.ports and self.legacy:
            raise WorkloadSpecError('ports is empty, but mode legacy makes a Service and a ServiceEntry, which need at '
                                    'least one port: list the ports the VM serves, or use mode workload_group')
        self.services = self._services(params.get('services'))
        if not self.address and (self.legacy or not self.auto_register):
            raise WorkloadSpecError('address (the VM IP) is required when %s'
                                    % ('mode is legacy' if self.legacy else 'auto_register is false'))

    def _services(self, param):
        """The Services that select the group: those of the services option, else one named after the group
        with all its ports."""
        if param is None:
            # A VM that serves no port is no Service's endpoint: it only calls services in the mesh.
            return [VmService(self.name, list(self.ports))] if self.ports else []
        if not param:
            raise WorkloadSpecError('services must list at least one Service (name and ports); leave services out for '
                                    'one Service named after the group with all its ports')
        if self.legacy and len(param) > 1:
            raise WorkloadSpecError('services lists %d Services, but mode legacy makes one (as istioctl x add-to-mesh did): '
                                    'list one, or use mode workload_group' % len(param))
        ports = dict((port.number, port) for port in self.ports)
        services = []
        for entry in param:
            name, numbers = entry['name'], list(entry.get('ports') or [])
            _check_dns_label(name, 'services: name', first_letter=True)
            if not numbers:
                raise WorkloadSpecError('services: Service %r lists no ports: give one or more of the ports numbers %s'
                                        % (name, sorted(ports)))
            unknown = [number for number in numbers if number not in ports]
            if unknown:
                raise WorkloadSpecError('services: Service %r lists port %s, which is not in ports (%s): add it to ports '
                                        'or remove it from the Service' % (name, unknown[0], sorted(ports)))
            if len(set(numbers)) != len(numbers):
                raise WorkloadSpecError('services: Service %r lists a port twice: %s' % (name, numbers))
            services.append(VmService(name, [ports[number] for number in numbers]))
        names = [service.name for service in services]
        if len(set(names)) != len(names):
            raise WorkloadSpecError('services: Service names must be unique, got %s' % names)
        return services

    @property
    def spiffe_path(self):
        return 'ns/%s/sa/%s' % (self.namespace, self.service_account)

    @property
    def workload_entry_name(self):
        """``<group>-<address>`` with the address in its canonical form (lower case, IPv6 compressed) and its dots
        and colons as dashes. An IPv6 address ending in ``::`` would leave the name ending in a dash, which no object
        name may, so trailing dashes go (``fd00:10::`` gives ``<group>-fd00-10``)."""
        canonical = ipaddress.ip_address(self.address).compressed
        return ('%s-%s' % (self.name, canonical.replace('.', '-').replace(':', '-'))).rstrip('-')

    @property
    def service_entry_name(self):
        return 'mesh-expansion-%s' % self.name

    def _metadata(self, name, labels=None):
        all_labels = dict(labels or {})
        all_labels[MANAGED_BY_LABEL] = MANAGED_BY
        return {'name': name, 'namespace': self.namespace, 'labels': all_labels}

    def service_account_object(self):
        return {'apiVersion': 'v1', 'kind': 'ServiceAccount', 'metadata': self._metadata(self.service_account)}

    def _template(self):
        template = {'serviceAccount': self.service_account}
        if self.ports:
            template['ports'] = dict((port.name, port.number) for port in self.ports)
        if self.network:
            template['network'] = self.network
        return template

    def workload_group_object(self, api_version):
        spec = {'metadata': {'labels': dict(self.labels)}, 'template': self._template()}
        if self.annotations:
            spec['metadata']['annotations'] = dict(self.annotations)
        if self.probe:
            spec['probe'] = self.probe
        return {'apiVersion': api_version, 'kind': 'WorkloadGroup', 'metadata': self._metadata(self.name), 'spec': spec}

    def workload_entry_object(self, api_version):
        spec = self._template()
        spec.update({'address': self.address, 'labels': dict(self.labels)})
        metadata = self._metadata(self.workload_entry_name, self.labels)
        # The group's annotations, as istiod gives an entry it registers; and the group named outright: entry names
        # cannot say it, as group "a" is a prefix of group "a-b"'s entries.
        metadata['annotations'] = dict(self.annotations)
        metadata['annotations'][GROUP_ANNOTATION] = self.name
        return {'apiVersion': api_version, 'kind': 'WorkloadEntry', 'metadata': metadata, 'spec': spec}

    def _service_metadata(self, service, annotations=None):
        metadata = self._metadata(service.name, self.labels)
        annotations = dict(annotations or {})
        if service.name != self.name:
            annotations[GROUP_ANNOTATION] = self.name
        if annotations:
            metadata['annotations'] = annotations
        return metadata

    def service_objects(self):
        """One Service per entry of services, selecting the group's labels; WorkloadEntries carrying them are
        their endpoints."""
        return [{'apiVersion': 'v1', 'kind': 'Service', 'metadata': self._service_metadata(service),
                 'spec': {'selector': dict(self.labels), 'ports': [port.service_port() for port in service.ports]}}
                for service in self.services]

    def legacy_service_object(self):
        """The selector-less Service add-to-mesh made; the ServiceEntry supplies its endpoint."""
        service = self.services[0]
        metadata = self._service_metadata(service, {SERVICE_ACCOUNT_ANNOTATION: self.service_account})
        return {'apiVersion': 'v1', 'kind': 'Service', 'metadata': metadata,
                'spec': {'ports': [port.service_port() for port in service.ports]}}

    def service_entry_object(self, api_version):
        """The legacy ServiceEntry: the legacy Service's host and ports, at the VM's address."""
        service = self.services[0]
        spec = {
            'hosts': ['%s.%s.svc.%s' % (service.name, self.namespace, CLUSTER_DOMAIN)],
            'ports': [{'number': port.number, 'protocol': port.protocol.upper(), 'name': port.name} for port in service.ports],
            'endpoints': [{'address': self.address}],
            'resolution': 'STATIC',
            'location': 'MESH_INTERNAL',
        }
        return {'apiVersion': api_version, 'kind': 'ServiceEntry', 'metadata': self._metadata(self.service_entry_name),
                'spec': spec}
