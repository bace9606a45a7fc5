# -*- coding: utf-8 -*-
# Copyright (c) meshbridge.istio_vm contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The VM bundle: the five files ``istioctl x workload entry configure -f wg.yaml -o DIR`` writes, rendered from
the same inputs with the same content (istioctl/pkg/workload/workload.go): cluster.env, mesh.yaml, root-cert.pem,
istio-token, hosts. Rendering only; reading the cluster and writing files are the caller's business."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import go_yaml

FILE_NAMES = ('cluster.env', 'mesh.yaml', 'root-cert.pem', 'istio-token', 'hosts')

ISTIOD_PORT = 15012
# SSH, Prometheus merge port, the agent's health port; istioctl adds the status port (15020 by default).
_EXCLUDED_PORTS = '22,15090,15021'
_DEFAULT_STATUS_PORT = 15020

# Label keys istio reads for the canonical service name and revision, first match wins (pkg/kube/labels).
_CANONICAL_NAME_LABELS = ('service.istio.io/canonical-name', 'app.kubernetes.io/name', 'app')
_CANONICAL_REVISION_LABELS = ('service.istio.io/canonical-revision', 'app.kubernetes.io/version', 'version')

# Proxy config overrides, read by istioctl from the WorkloadGroup's metadata and its spec.metadata (and by istiod).
PROXY_CONFIG_ANNOTATION = 'proxy.istio.io/config'

# istioctl's shellescape pattern is written as a Go raw string, `[^\\w@%+=:,./-]`, so its class is a literal
# backslash and "w", not \w: every value with any other character is quoted. Match it, quirk included.
_SHELL_SAFE = re.compile(r'^[\\w@%+=:,./-]+$')


def is_revisioned(revision):
    return bool(revision) and revision != 'default'


def istiod_host(istio_namespace, revision):
    """``istiod[-REV].NS.svc``: the name the VM resolves through its hosts file."""
    name = 'istiod-%s' % revision if is_revisioned(revision) else 'istiod'
    return '%s.%s.svc' % (name, istio_namespace)


def istiod_address(istio_namespace, revision):
    return '%s:%d' % (istiod_host(istio_namespace, revision), ISTIOD_PORT)


def mesh_config_map_name(revision):
    return 'istio-%s' % revision if is_revisioned(revision) else 'istio'


def injector_config_map_name(revision):
    return 'istio-sidecar-injector-%s' % revision if is_revisioned(revision) else 'istio-sidecar-injector'


def shell_quote(value):
    if value and _SHELL_SAFE.match(value):
        return value
    return "'" + value.replace("'", "'\"'\"'") + "'"


def go_json(value, struct=False):
    """Compact JSON as Go's encoding/json writes it: <, > and & escaped; map keys sorted, while a struct's
    fields (``struct=True``: dicts already in field order) keep their order."""
    text = json.dumps(value, sort_keys=not struct, separators=(',', ':'), ensure_ascii=False)
    for char, escaped in (('<', '\\u003c'), ('>', '\\u003e'), ('&', '\\u0026'),
                          (u'\u2028', '\\u2028'), (u'\u2029', '\\u2029')):
        text = text.replace(char, escaped)
    return text


# ProxyConfig (istio.io/api mesh/v1alpha1 proxy.proto) as istioctl writes it to mesh.yaml: through the protobuf JSON
# mapping, which leaves out a field holding its type's zero value ("", 0, false, the first enum value, an empty list
# or map) unless the field is a google.protobuf wrapper (BoolValue, Int32Value, ...), whose zero is a value; then
# through Go's encoding/json, which turns every number into a float64 (so 1.0 is written 1). Int64Value is a JSON
# string. The field names below are those of ProxyConfig and the messages under it.
_WRAPPED_FIELDS = frozenset([
    'concurrency', 'holdApplicationUntilProxyStarts', 'statsCompression', 'enableIstioTags', 'fallback', 'disabled',
    'enabled', 'subject', 'cert', 'chain', 'dns', 'uri', 'preserveHttp1HeaderCase', 'httpMergeSlashes',
    'listenerPerConnectionBufferLimitBytes', 'clusterPerConnectionBufferLimitBytes', 'httpMaxConcurrentStreams',
    'http2InitialStreamWindowSize', 'http2InitialConnectionWindowSize', 'listenerConnectionLimit',
    'globalDownstreamConnectionLimit', 'insecureSkipVerify', 'maxNumberOfAttributes', 'maxNumberOfAnnotations',
    'maxNumberOfMessageEvents'])
_INT64_WRAPPED_FIELDS = frozenset(['maxNumberOfAttributes', 'maxNumberOfAnnotations', 'maxNumberOfMessageEvents'])
# Map fields: their entries are written whatever their values.
_MAP_FIELDS = frozenset(['proxyMetadata', 'runtimeValues', 'customTags'])
# Enum fields and the names of their zero values ("mode": the metadata exchange headers' mode, and the TLS mode of
# tracing's tlsSettings).
_ENUM_ZEROS = {
    'controlPlaneAuthPolicy': ('NONE',), 'tracingServiceName': ('APP_LABEL_AND_NAMESPACE',),
    'interceptionMode': ('REDIRECT',), 'forwardedClientCert': ('UNDEFINED',), 'mode': ('UNDEFINED', 'DISABLE'),
    'profile': ('SIDECAR',), 'headersWithUnderscoresAction': ('HEADERS_WITH_UNDERSCORES_UNSPECIFIED',),
    'pathWithEscapedSlashesAction': ('PATH_WITH_ESCAPED_SLASHES_UNSPECIFIED',)}
_OMITTED = object()


def _json_number(value):
    """A number as it comes back from Go's float64: integral values as integers."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


def _proto_field(field, value):
    """One field of a message as the protobuf JSON mapping writes it, or _OMITTED."""
    if value is None:
        return _OMITTED
    if field in _MAP_FIELDS:
        return dict(value) if value else _OMITTED
    if field in _WRAPPED_FIELDS:
        return str(value) if field in _INT64_WRAPPED_FIELDS and isinstance(value, int) else _json_number(value)
    if isinstance(value, dict):
        return proto_json(value)  # a message is written when set, even when all its fields are zero
    if isinstance(value, list):
        return [proto_json(item) if isinstance(item, dict) else _json_number(item) for item in value] or _OMITTED
    if value is False or value == '' or (isinstance(value, (int, float)) and value == 0):
        return _OMITTED
    if value in _ENUM_ZEROS.get(field, ()):
        return _OMITTED
    return _json_number(value)


def proto_json(message):
    """A ProxyConfig (or a message in it: the readiness probe, tracing...) as dict, in the form istioctl writes."""
    written = {}
    for field, value in message.items():
        value = _proto_field(field, value)
        if value is not _OMITTED:
            written[field] = value
    return written


def canonical_service(labels, group_name):
    name = next((labels[key] for key in _CANONICAL_NAME_LABELS if key in labels), group_name)
    revision = next((labels[key] for key in _CANONICAL_REVISION_LABELS if key in labels), 'latest')
    return name, revision


def _pod_ports_json(ports):
    """ISTIO_META_POD_PORTS: the template's ports as Kubernetes container ports, sorted by name."""
    return go_json([{'name': name, 'containerPort': ports[name], 'protocol': ''} for name in sorted(ports)],
                   struct=True)


class BundleInputs:
    """What istioctl reads to render a bundle: the WorkloadGroup, the mesh config, flags and cluster data.

    ``group`` is a WorkloadGroup object (dict). ``mesh_config`` is the parsed ``mesh`` key of ConfigMap
    ``istio[-REV]``. ``internal_ip`` is ``--internalIP``; ``gateway_address`` the address the hosts file names
    (``--ingressIP`` or the east-west gateway's load balancer address).
    """

    def __init__(self, group, mesh_config, cluster_id, root_cert, token, gateway_address,
                 revision='', istio_namespace='istio-system', auto_register=False, capture_dns=True, internal_ip=''):
        self.group = group
        self.mesh_config = mesh_config or {}
        self.cluster_id = cluster_id
        self.root_cert = root_cert
        self.token = token
        self.gateway_address = gateway_address
        self.revision = revision
        self.istio_namespace = istio_namespace
        self.auto_register = auto_register
        self.capture_dns = capture_dns
        self.internal_ip = internal_ip

    @property
    def name(self):
        return self.group['metadata']['name']

    @property
    def namespace(self):
        return self.group['metadata']['namespace']

    @property
    def template(self):
        return self.group.get('spec', {}).get('template') or {}

    @property
    def service_account(self):
        return self.template.get('serviceAccount') or 'default'


def proxy_config(inputs):
    """The ``defaultConfig`` istioctl writes to mesh.yaml: the mesh's default proxy config, overridden by the
    group's proxy.istio.io/config annotations, with the workload's metadata and readiness probe."""
    config = dict(inputs.mesh_config.get('defaultConfig') or {})
    metadata = dict(config.get('proxyMetadata') or {})
    if is_revisioned(inputs.revision) and not config.get('discoveryAddress'):
        config['discoveryAddress'] = istiod_address(inputs.istio_namespace, inputs.revision)

    group_metadata = inputs.group.get('spec', {}).get('metadata') or {}
    for annotations in (inputs.group['metadata'].get('annotations') or {}, group_metadata.get('annotations') or {}):
        if PROXY_CONFIG_ANNOTATION in annotations:
            override = go_yaml.yaml.safe_load(annotations[PROXY_CONFIG_ANNOTATION]) or {}
            # Fields are replaced; proxyMetadata is merged key by key, as istioctl does.
            metadata.update(override.get('proxyMetadata') or {})
            config.update(override)

    labels = dict(group_metadata.get('labels') or {})
    labels.update(inputs.template.get('labels') or {})
    template = inputs.template
    if inputs.group.get('spec', {}).get('probe'):
        config['readinessProbe'] = inputs.group['spec']['probe']
    else:
        config.pop('readinessProbe', None)

    canonical_name, canonical_revision = canonical_service(labels, inputs.name)
    metadata.update({
        'CANONICAL_SERVICE': canonical_name,
        'CANONICAL_REVISION': canonical_revision,
        'POD_NAMESPACE': inputs.namespace,
        'SERVICE_ACCOUNT': inputs.service_account,
        'TRUST_DOMAIN': inputs.mesh_config.get('trustDomain', ''),
        'ISTIO_META_CLUSTER_ID': inputs.cluster_id,
        'ISTIO_META_MESH_ID': config.get('meshId', ''),
        'ISTIO_META_NETWORK': template.get('network', ''),
        'ISTIO_META_WORKLOAD_NAME': inputs.name,
    })
    if template.get('ports'):
        metadata['ISTIO_META_POD_PORTS'] = _pod_ports_json(template['ports'])
    labels['service.istio.io/canonical-name'] = canonical_name
    labels['service.istio.io/canonical-revision'] = canonical_revision
    metadata['ISTIO_METAJSON_LABELS'] = go_json(labels)
    if inputs.capture_dns:
        metadata['ISTIO_META_DNS_CAPTURE'] = 'true'
    if inputs.auto_register:
        metadata['ISTIO_META_AUTO_REGISTER_GROUP'] = inputs.name
    config['proxyMetadata'] = metadata
    return proto_json(config)


def render_mesh_yaml(config):
    return go_yaml.dump({'defaultConfig': config})


def render_cluster_env(inputs, config):
    """cluster.env: the proxy metadata plus the workload's own settings, one ``KEY=quoted`` line each,
    sorted as whole lines (istioctl sorts ``KEY=VALUE`` strings, not keys)."""
    template = inputs.template
    ports = template.get('ports') or {}
    status_port = config.get('statusPort') or 0
    excluded = _EXCLUDED_PORTS
    if status_port not in (15090, 15021):
        excluded += ',%d' % (status_port or _DEFAULT_STATUS_PORT)
    env = dict(config.get('proxyMetadata') or {})
    env.update({
        # istioctl joins the ports in Go map order, which is random; sorted numbers are one of its outputs.
        'ISTIO_INBOUND_PORTS': ','.join(str(number) for number in sorted(ports.values())) if ports else '*',
        'ISTIO_NAMESPACE': inputs.namespace,
        'ISTIO_SERVICE': '%s.%s' % (inputs.name, inputs.namespace),
        'ISTIO_SERVICE_CIDR': '*',
        'ISTIO_LOCAL_EXCLUDE_PORTS': excluded,
        'SERVICE_ACCOUNT': inputs.service_account,
    })
    if is_revisioned(inputs.revision):
        env['CA_ADDR'] = istiod_address(inputs.istio_namespace, inputs.revision)
    if inputs.internal_ip:
        env['ISTIO_SVC_IP'] = inputs.internal_ip
    lines = sorted('%s=%s' % (key, shell_quote(str(value))) for key, value in env.items())
    return '\n'.join(lines) + '\n'


def render_hosts(inputs):
    if not inputs.gateway_address:
        return ''
    return '%s %s\n' % (inputs.gateway_address, istiod_host(inputs.istio_namespace, inputs.revision))


def render(inputs):
    """All five files, name -> text."""
    config = proxy_config(inputs)
    return {
        'cluster.env': render_cluster_env(inputs, config),
        'mesh.yaml': render_mesh_yaml(config),
        'root-cert.pem': inputs.root_cert,
        'istio-token': inputs.token,
        'hosts': render_hosts(inputs),
    }
