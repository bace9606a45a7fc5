"""What the agent reads on the VM: cluster.env, the mesh config, the token and the root certificate.

The files and their defaults are those of Istio's VM install (istio-start.sh and pilot-agent): cluster.env in
/var/lib/istio/envoy, the mesh config in /etc/istio/config/mesh (its ``defaultConfig`` is the proxy config), the
token in /var/run/secrets/tokens/istio-token, the mesh root in /etc/certs/root-cert.pem. ``proxyMetadata`` of the
mesh config is the agent's environment; cluster.env overrides it, as the start script exports cluster.env last.
"""

import json
import shlex

import yaml

DEFAULT_DISCOVERY_ADDRESS = 'istiod.istio-system.svc:15012'
DEFAULT_TRUST_DOMAIN = 'cluster.local'
DEFAULT_CLUSTER_ID = 'Kubernetes'
# Ports the agent and Envoy use themselves; never captured (istio-iptables excludes them the same way).
PROXY_PORT_RANGE = (15000, 15999)


class SettingsError(Exception):
    """A file the agent needs is missing or malformed; the message names the file and the problem."""


class Paths:
    """Where the agent's inputs and outputs live; the defaults are the real VM layout."""

    def __init__(self, root=''):
        self.cluster_env = root + '/var/lib/istio/envoy/cluster.env'
        self.mesh_config = root + '/etc/istio/config/mesh'
        self.token = root + '/var/run/secrets/tokens/istio-token'
        self.root_cert = root + '/etc/certs/root-cert.pem'
        self.certs_dir = root + '/etc/certs'
        self.proxy_dir = root + '/var/lib/istio/proxy'
        self.bootstrap_template = root + '/var/lib/istio/envoy/envoy_bootstrap_tmpl.json'
        self.log_dir = root + '/var/log/istio'


def parse_env_file(text):
    """KEY=VALUE lines with shell quoting (as istioctl writes cluster.env); comments and blank lines skipped."""
    values = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        if line.startswith('export '):
            line = line[len('export '):]
        key, separator, raw = line.partition('=')
        if not separator or not key.isidentifier():
            raise SettingsError('line %d is not KEY=VALUE: %r' % (number, line))
        try:
            values[key] = ''.join(shlex.split(raw))
        except ValueError as error:
            raise SettingsError('line %d (%s): %s' % (number, key, error)) from error
    return values


def _read(path, what):
    try:
        with open(path, encoding='utf-8') as handle:
            return handle.read()
    except FileNotFoundError:
        raise SettingsError('%s %s is missing' % (what, path)) from None
    except OSError as error:
        raise SettingsError('cannot read %s %s: %s' % (what, path, error.strerror)) from None


def parse_ports(text):
    """A comma list of port numbers (spaces allowed) -> sorted ints; ``*`` is not a list (callers handle it)."""
    ports = set()
    for item in text.replace(' ', '').split(','):
        if not item:
            continue
        if not item.isdigit() or not 0 < int(item) < 65536:
            raise SettingsError('%r is not a port number' % item)
        ports.add(int(item))
    return sorted(ports)


class Settings:
    """The parsed inputs. ``env`` is the mesh config's proxyMetadata overridden by cluster.env."""

    def __init__(self, env, proxy_config, token, root_pem):
        self.env = env
        self.proxy_config = proxy_config
        self.token = token
        self.root_pem = root_pem

    @classmethod
    def load(cls, paths):
        try:
            mesh = yaml.safe_load(_read(paths.mesh_config, 'mesh config')) or {}
        except yaml.YAMLError as error:
            raise SettingsError('mesh config %s is not YAML: %s' % (paths.mesh_config, error)) from None
        if not isinstance(mesh, dict):
            raise SettingsError('mesh config %s is not a mapping' % paths.mesh_config)
        proxy_config = mesh.get('defaultConfig') or {}
        env = {key: str(value) for key, value in (proxy_config.get('proxyMetadata') or {}).items()}
        env.update(parse_env_file(_read(paths.cluster_env, 'cluster.env')))
        token = _read(paths.token, 'token').strip()
        if not token:
            raise SettingsError('token %s is empty' % paths.token)
        root_pem = _read(paths.root_cert, 'root certificate')
        if '-----BEGIN CERTIFICATE-----' not in root_pem:
            raise SettingsError('root certificate %s holds no PEM certificate' % paths.root_cert)
        return cls(env, proxy_config, token, root_pem)

    @property
    def discovery_address(self):
        return self.proxy_config.get('discoveryAddress') or DEFAULT_DISCOVERY_ADDRESS

    @property
    def ca_address(self):
        return self.env.get('CA_ADDR') or self.discovery_address

    @property
    def namespace(self):
        return self.env.get('POD_NAMESPACE') or self.env.get('ISTIO_NAMESPACE') or 'default'

    @property
    def service_account(self):
        return self.env.get('SERVICE_ACCOUNT') or 'default'

    @property
    def trust_domain(self):
        return self.env.get('TRUST_DOMAIN') or DEFAULT_TRUST_DOMAIN

    @property
    def spiffe_id(self):
        return 'spiffe://%s/ns/%s/sa/%s' % (self.trust_domain, self.namespace, self.service_account)

    @property
    def cluster_id(self):
        return self.env.get('ISTIO_META_CLUSTER_ID') or DEFAULT_CLUSTER_ID

    @property
    def labels(self):
        raw = self.env.get('ISTIO_METAJSON_LABELS')
        if not raw:
            return {}
        try:
            labels = json.loads(raw)
        except ValueError as error:
            raise SettingsError('ISTIO_METAJSON_LABELS is not JSON: %s' % error) from None
        if not isinstance(labels, dict):
            raise SettingsError('ISTIO_METAJSON_LABELS is not a JSON object')
        return {str(key): str(value) for key, value in labels.items()}

    @property
    def readiness_probe(self):
        return self.proxy_config.get('readinessProbe') or None

    def inbound_ports(self):
        """The ports to capture: a sorted list, or ``'*'`` for every port not excluded."""
        raw = self.env.get('ISTIO_INBOUND_PORTS', '').strip()
        if raw == '*':
            return '*'
        return parse_ports(raw)

    def excluded_ports(self):
        return parse_ports(self.env.get('ISTIO_LOCAL_EXCLUDE_PORTS', ''))

    def node_metadata(self, instance_ip, workload_name):
        """The xDS node metadata the real agent sends for a VM (ISTIO_META_* become these keys)."""
        metadata = {
            'NAMESPACE': self.namespace,
            'SERVICE_ACCOUNT': self.service_account,
            'LABELS': self.labels,
            'INSTANCE_IPS': instance_ip,
            'WORKLOAD_NAME': self.env.get('ISTIO_META_WORKLOAD_NAME') or workload_name,
            'CLUSTER_ID': self.cluster_id,
            'MESH_ID': self.env.get('ISTIO_META_MESH_ID') or self.proxy_config.get('meshId') or self.trust_domain,
            'NETWORK': self.env.get('ISTIO_META_NETWORK', ''),
        }
        group = self.env.get('ISTIO_META_AUTO_REGISTER_GROUP')
        if group:
            metadata['AUTO_REGISTER_GROUP'] = group
        return metadata

    def node_id(self, instance_ip, pod_name):
        return 'sidecar~%s~%s.%s~%s.svc.cluster.local' % (instance_ip, pod_name, self.namespace, self.namespace)
