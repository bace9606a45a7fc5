# Copyright: (c) 2026, meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install or remove Istio with istioctl: read what the cluster runs, compare with what is asked, act, wait.

What the cluster runs is read from the objects an install leaves: istiod's Deployment (image tag = version,
``istio.io/rev``, the install digest label), ConfigMap ``istio`` (mesh config: trust domain, mesh ID),
ConfigMap ``istio-sidecar-injector`` (values: network, cluster name), the east-west gateway's Service and the
``istiod-gateway``/``istiod-vs`` objects. istioctl itself is only obtained (downloaded, or its version checked) and
run when something must change: to install, to uninstall, or in check mode to validate with manifest generate.
"""

import json
import os
import re

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import istio_operator, istio_release, kube
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.polling import PollTimeout, Poller

try:
    import yaml
except ImportError:  # PyYAML comes with the kubernetes library, which the module checks for first
    yaml = None

NAMESPACE = istio_operator.ISTIO_NAMESPACE
# Options that, given, change the connection istioctl must use from what the kubeconfig alone says.
_CONNECTION_OVERRIDES = ('host', 'api_key', 'ca_cert', 'validate_certs')


# Image variants Istio publishes (values.global.variant): istiod's tag is then <version>-<variant>.
_VARIANT_SUFFIX = re.compile(r'-(distroless|debug)$')


def image_version(image):
    """The Istio version of an image reference: its tag without a variant suffix."""
    return _VARIANT_SUFFIX.sub('', image.rsplit(':', 1)[-1])


class InstallError(Exception):
    """The install or removal failed or did not become ready; the message says what and what to do."""


def _load_yaml(text):
    return (yaml.safe_load(text) if yaml else json.loads(text)) or {}


def _contains(live, wanted):
    """True when every field of ``wanted`` has the same value in ``live`` (the server may add defaults)."""
    if isinstance(wanted, dict):
        return isinstance(live, dict) and all(_contains(live.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(live, list) and len(live) == len(wanted) and all(map(_contains, live, wanted))
    return live == wanted


def _available(deployment):
    for condition in (deployment or {}).get('status', {}).get('conditions') or []:
        if condition.get('type') == 'Available':
            return condition.get('status') == 'True'
    return False


def lb_address(service):
    for ingress in ((service or {}).get('status') or {}).get('loadBalancer', {}).get('ingress') or []:
        if ingress.get('ip') or ingress.get('hostname'):
            return ingress.get('ip') or ingress.get('hostname')
    return None


def kubeconfig_args(params, tmpdir):
    """istioctl's connection flags for the module's connection options.

    istioctl reads only kubeconfigs: when host, api_key, ca_cert or validate_certs are given, the resolved
    connection is written to a kubeconfig (mode 0600) in the module's temporary directory.
    """
    if not any(params.get(option) is not None for option in _CONNECTION_OVERRIDES):
        args = ['--kubeconfig', params['kubeconfig']] if params.get('kubeconfig') else []
        return args + (['--context', params['context']] if params.get('context') else [])
    configuration = kube.build_configuration(params)
    cluster = {'server': configuration.host}
    if configuration.ssl_ca_cert:
        cluster['certificate-authority'] = configuration.ssl_ca_cert
    if not configuration.verify_ssl:
        cluster['insecure-skip-tls-verify'] = True
    user = {}
    token = (configuration.api_key or {}).get('BearerToken') or (configuration.api_key or {}).get('authorization')
    if token:
        user['token'] = token.split(' ', 1)[1] if token.startswith('Bearer ') else token
    if configuration.cert_file:
        user.update({'client-certificate': configuration.cert_file, 'client-key': configuration.key_file})
    kubeconfig = {'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'meshbridge',
                  'clusters': [{'name': 'meshbridge', 'cluster': cluster}],
                  'users': [{'name': 'meshbridge', 'user': user}],
                  'contexts': [{'name': 'meshbridge', 'context': {'cluster': 'meshbridge', 'user': 'meshbridge'}}]}
    path = os.path.join(tmpdir, 'istioctl-kubeconfig')
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, 'w') as handle:
        json.dump(kubeconfig, handle)  # JSON is YAML: any kubeconfig reader takes it
    return ['--kubeconfig', path]


def _failure_detail(output):
    """The last lines istioctl printed about a failure, without the logo ``install`` prints first."""
    lines = [line.strip() for line in (output or '').splitlines() if line.strip(' \t|/\\_')]
    return ' / '.join(lines[-10:]) or 'no output'


class Istioctl:
    """Runs one istioctl binary with the cluster's connection flags."""

    def __init__(self, path, run_command, connection_args):
        self.path = path
        self._run_command = run_command
        self._connection_args = connection_args

    def _run(self, args, what, cluster=True):
        command = [self.path] + args + (self._connection_args if cluster else [])
        rc, out, err = self._run_command(command)
        if rc != 0:
            raise InstallError('istioctl %s failed (exit %d): %s' % (what, rc, _failure_detail(err or out)))
        return out

    def client_version(self):
        out = self._run(['version', '--remote=false', '-o', 'json'], 'version', cluster=False)
        try:
            return json.loads(out)['clientVersion']['version']
        except (ValueError, KeyError, TypeError):
            raise InstallError('istioctl at %s printed no version: %r' % (self.path, out[:200])) from None

    def generate(self, operator_file):
        """Validate the IstioOperator as install would, changing nothing (check mode)."""
        self._run(['manifest', 'generate', '-f', operator_file], 'manifest generate', cluster=False)

    def install(self, operator_file, timeout):
        self._run(['install', '-y', '-f', operator_file, '--readiness-timeout', '%ds' % timeout], 'install')

    def uninstall(self, revision):
        self._run(['uninstall', '-y'] + (['--revision', revision] if revision else ['--purge']), 'uninstall')


class IstioInstaller:
    """Plans and applies ``state`` for one revision of Istio in the cluster behind ``client`` (a KubeClient)."""

    def __init__(self, client, settings):
        self.kube = client
        self.settings = settings
        self.revision = settings.get('revision') or ''
        self.suffix = istio_operator.suffix(self.revision)

    # -- reading the cluster ---------------------------------------------------------------------------------------
    def observe(self):
        """The installed settings of this revision, or None when it is not installed."""
        istiod = self.kube.get('apps/v1', 'Deployment', 'istiod' + self.suffix, NAMESPACE)
        eastwest = self.kube.get('v1', 'Service', istio_operator.EASTWEST_GATEWAY, NAMESPACE)
        exposed = self._exposed()
        if istiod is None:
            if eastwest is None and not exposed:
                return None
            return {'installed': False, 'eastwest_gateway': eastwest is not None, 'istiod_exposed': exposed}
        labels = istiod['metadata'].get('labels') or {}
        container = istiod['spec']['template']['spec']['containers'][0]
        env = {e.get('name'): e.get('value') for e in container.get('env') or []}
        mesh = self._config_map_yaml('istio' + self.suffix, 'mesh')
        injector_values = self._config_map_yaml('istio-sidecar-injector' + self.suffix, 'values')
        global_values = injector_values.get('global') or {}
        revision = labels.get('istio.io/rev', 'default')
        return {
            'installed': True,
            'version': image_version(container['image']),
            'revision': '' if revision == 'default' else revision,
            'mesh_id': (mesh.get('defaultConfig') or {}).get('meshId') or global_values.get('meshID') or '',
            'trust_domain': mesh.get('trustDomain') or 'cluster.local',
            'cluster_name': (global_values.get('multiCluster') or {}).get('clusterName') or env.get('CLUSTER_ID') or '',
            'network': global_values.get('network') or '',
            'eastwest_gateway': eastwest is not None,
            'istiod_exposed': exposed,
            'install_digest': labels.get(istio_operator.DIGEST_LABEL, ''),
        }

    def _config_map_yaml(self, name, key):
        config_map = self.kube.get('v1', 'ConfigMap', name, NAMESPACE) or {}
        text = (config_map.get('data') or {}).get(key)
        return _load_yaml(text) if text else {}

    def _exposed(self):
        """True when istiod-gateway and istiod-vs exist as this revision's expose_istiod() defines them."""
        for wanted in istio_operator.expose_istiod(self.revision):
            live = self.kube.get(wanted['apiVersion'], wanted['kind'], wanted['metadata']['name'], NAMESPACE)
            if live is None or not _contains(live.get('spec'), wanted['spec']):
                return False
        return True

    def desired(self, operator):
        settings = self.settings
        return {
            'installed': True,
            'version': settings['version'],
            'revision': self.revision,
            'mesh_id': settings.get('mesh_id'),
            'trust_domain': settings.get('trust_domain'),
            'cluster_name': settings.get('cluster_name'),
            'network': settings.get('network'),
            'eastwest_gateway': settings['eastwest_gateway'],
            'istiod_exposed': settings['expose_istiod'],
            'install_digest': operator['spec']['values']['pilot']['deploymentLabels'][istio_operator.DIGEST_LABEL],
        }

    @staticmethod
    def differs(observed, desired):
        """Whether the cluster must change; options left unset (None) are not compared (the digest covers them)."""
        if observed is None:
            return True
        return any(value is not None and observed.get(key) != value for key, value in desired.items())

    @staticmethod
    def diff_view(observed, desired):
        """before/after for --diff: the compared settings; unset options show what the cluster has."""
        before = dict(observed or {'installed': False})
        after = {k: (before.get(k) if v is None else v) for k, v in desired.items()}
        return {'before': before, 'after': after}

    # -- changing the cluster --------------------------------------------------------------------------------------
    def apply(self, istioctl, operator_file, timeout):
        istioctl.install(operator_file, timeout)
        exposure = istio_operator.expose_istiod(self.revision)
        if self.settings['expose_istiod']:
            for obj in exposure:
                self.kube.apply(obj)
        else:
            for obj in exposure:
                self.kube.delete(obj['apiVersion'], obj['kind'], obj['metadata']['name'], NAMESPACE)

    def remove(self, istioctl):
        for obj in istio_operator.expose_istiod(self.revision):
            self.kube.delete(obj['apiVersion'], obj['kind'], obj['metadata']['name'], NAMESPACE)
        istioctl.uninstall(self.revision)

    def wait_ready(self, timeout):
        """Wait for istiod to be Available and the east-west gateway to have an address; return that address."""
        try:
            (_missing, address), _reads, _elapsed = Poller().until(
                self._not_ready, lambda state: not state[0], timeout, lambda state: '; '.join(state[0]))
        except PollTimeout as timed_out:
            raise InstallError('Istio is not ready after %d s: %s; raise wait_timeout, or look at the cluster '
                               '(kubectl -n %s get deploy,svc)' % (timeout, timed_out.last, NAMESPACE)) from None
        return address

    def wait_removed(self, timeout):
        try:
            Poller().until(self._remaining, lambda remaining: remaining == (None, []), timeout, repr)
        except PollTimeout as timed_out:
            raise InstallError('Istio revision %s is still present %d s after istioctl uninstall: %s; look at '
                               'the cluster (kubectl -n %s get deploy,svc,gateway,virtualservice; kubectl get crd)'
                               % (self.revision or 'default', timeout, timed_out.last, NAMESPACE)) from None

    def _remaining(self):
        """What of this revision is still in the cluster: its settings, and after a purge (no revision) the Istio
        CRDs Kubernetes is still deleting. istioctl only asks for their deletion; the API server removes a CRD
        once every custom resource of it is gone, and until then creating the CRD again (a new install) fails."""
        crds = []
        if not self.revision:
            crds = sorted(item['metadata']['name']
                          for item in self.kube.list('apiextensions.k8s.io/v1', 'CustomResourceDefinition')
                          if item['metadata']['name'].endswith('.istio.io'))
        return self.observe(), crds

    def _not_ready(self):
        missing = []
        istiod_name = 'istiod' + self.suffix
        if not _available(self.kube.get('apps/v1', 'Deployment', istiod_name, NAMESPACE)):
            missing.append('Deployment %s/%s is not Available' % (NAMESPACE, istiod_name))
        address = None
        if self.settings['eastwest_gateway']:
            gateway = istio_operator.EASTWEST_GATEWAY
            address = lb_address(self.kube.get('v1', 'Service', gateway, NAMESPACE))
            if not _available(self.kube.get('apps/v1', 'Deployment', gateway, NAMESPACE)):
                missing.append('Deployment %s/%s is not Available' % (NAMESPACE, gateway))
            if address is None:
                missing.append('Service %s/%s has no load balancer address' % (NAMESPACE, gateway))
        return missing, address


def _istioctl(module, connection_args):
    """The istioctl to run: ``istioctl_path`` (its version checked), else the verified release from the cache."""
    params = module.params
    if params['istioctl_path']:
        istioctl = Istioctl(params['istioctl_path'], module.run_command, connection_args)
        client = istioctl.client_version()
        if client != params['version']:
            raise InstallError('istioctl_path %s is istioctl %s, but version %s was asked: point istioctl_path at a '
                               '%s istioctl, or leave it unset to download that release'
                               % (params['istioctl_path'], client, params['version'], params['version']))
        return istioctl
    release = istio_release.IstioRelease(params['version'], params['release_url'], params['cache_dir'])
    return Istioctl(release.istioctl(), module.run_command, connection_args)


def _settings(params):
    keys = ('version', 'profile', 'revision', 'mesh_id', 'cluster_name', 'network', 'trust_domain', 'values',
            'components', 'eastwest_gateway', 'eastwest_gateway_annotations', 'eastwest_gateway_source_ranges',
            'expose_istiod')
    return {key: params[key] for key in keys}


def run_istio_install(module):
    """The module's work: validate, read the cluster, plan; when something must change obtain istioctl and act
    (in check mode: validate with manifest generate); wait."""
    kube.fail_without_kubernetes(module)
    params = module.params
    settings = _settings(params)
    try:
        istio_release.validate_version(params['version'])
        if params['expose_istiod'] and not params['eastwest_gateway']:
            raise InstallError('expose_istiod needs the east-west gateway that carries it: set eastwest_gateway to '
                               'true, or expose_istiod to false')
        present = params['state'] == 'present'
        operator = istio_operator.build_operator(settings) if present else None
        client = kube.connect(params, module.tmpdir)
        installer = IstioInstaller(client, settings)
        observed = installer.observe()
        if present:
            result = _present(module, client, installer, operator, observed)
        else:
            result = _absent(module, installer, observed)
    except (istio_release.ReleaseError, istio_operator.OperatorError, kube.KubeError, InstallError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


def _present(module, client, installer, operator, observed):
    params = module.params
    desired = installer.desired(operator)
    changed = installer.differs(observed, desired)
    istioctl = None
    if changed:
        istioctl = _istioctl(module, kubeconfig_args(params, module.tmpdir))
        operator_file = os.path.join(module.tmpdir, 'istio-operator.json')
        with open(operator_file, 'w', encoding='utf-8') as handle:
            json.dump(operator, handle)
        if module.check_mode:
            istioctl.generate(operator_file)  # istioctl refuses in check mode what it would refuse at install
        else:
            installer.apply(istioctl, operator_file, params['wait_timeout'])
    address = None
    if params['wait'] and not module.check_mode:
        address = installer.wait_ready(params['wait_timeout'])
    elif params['eastwest_gateway']:
        address = lb_address(client.get('v1', 'Service', istio_operator.EASTWEST_GATEWAY, NAMESPACE))
    now = desired if module.check_mode else installer.observe()
    result = {'changed': changed, 'istioctl': istioctl.path if istioctl else None, 'operator': operator,
              'istiod_address': address}
    for key in ('version', 'revision', 'mesh_id', 'trust_domain', 'cluster_name', 'network'):
        result[key] = now.get(key) if now.get(key) is not None else (observed or {}).get(key)
    if module._diff:  # pylint: disable=protected-access  # how Ansible tells a module --diff was asked
        result['diff'] = installer.diff_view(observed, desired)
    return result


def _absent(module, installer, observed):
    changed = observed is not None
    if changed and not module.check_mode:
        installer.remove(_istioctl(module, kubeconfig_args(module.params, module.tmpdir)))
        if module.params['wait']:
            installer.wait_removed(module.params['wait_timeout'])
    result = {'changed': changed, 'version': None, 'revision': installer.revision, 'istiod_address': None}
    if module._diff:  # pylint: disable=protected-access
        result['diff'] = {'before': observed or {'installed': False}, 'after': {'installed': False}}
    return result
