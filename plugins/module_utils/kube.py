# Copyright: (c) 2026, meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes access shared by the collection's modules.

The connection options (``KUBE_AUTH_ARG_SPEC``, documented by the ``meshbridge.istio_vm.kube`` doc fragment)
build a ``kubernetes`` DynamicClient. ``KubeClient`` wraps it with the few operations the modules need:
get-or-None, server-side apply under the ``meshbridge`` field manager, delete, and errors that read as a sentence
naming the object and the API server's own message.
"""

import contextlib
import json
import os
import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib

KUBERNETES_IMPORT_ERROR = None
try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.client.rest import ApiException
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import ResourceNotFoundError
    from urllib3.exceptions import HTTPError as Urllib3HTTPError
except ImportError:
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()

FIELD_MANAGER = 'meshbridge'

# The connection options, named and defaulted from the environment as kubernetes.core names them
# (K8S_AUTH_*), so a play that already drives kubernetes.core can set them once for both.
KUBE_AUTH_ARG_SPEC = {
    'kubeconfig': {'type': 'path', 'fallback': (env_fallback, ['K8S_AUTH_KUBECONFIG'])},
    'context': {'type': 'str', 'fallback': (env_fallback, ['K8S_AUTH_CONTEXT'])},
    'host': {'type': 'str', 'fallback': (env_fallback, ['K8S_AUTH_HOST'])},
    'api_key': {'type': 'str', 'no_log': True, 'fallback': (env_fallback, ['K8S_AUTH_API_KEY'])},
    'validate_certs': {'type': 'bool', 'aliases': ['verify_ssl'], 'fallback': (env_fallback, ['K8S_AUTH_VERIFY_SSL'])},
    'ca_cert': {'type': 'path', 'aliases': ['ssl_ca_cert'], 'fallback': (env_fallback, ['K8S_AUTH_SSL_CA_CERT'])},
}


class KubeError(Exception):
    """A Kubernetes operation failed; the message is meant for the user as it stands."""

    def __init__(self, message, status=None, reason=None):
        super().__init__(message)
        self.status = status
        self.reason = reason


def fail_without_kubernetes(module):
    """Fail ``module`` with Ansible's usual message when the ``kubernetes`` library is missing."""
    if KUBERNETES_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=KUBERNETES_IMPORT_ERROR)


def build_configuration(params):
    """A ``kubernetes.client.Configuration`` from the connection options.

    The kubeconfig (``kubeconfig``, else ``$KUBECONFIG`` or ``~/.kube/config``) is read unless ``host`` is given
    without one; ``host``, ``api_key``, ``ca_cert`` and ``validate_certs`` override what it says.
    """
    configuration = k8s_client.Configuration()
    kubeconfig = params.get('kubeconfig')
    host = params.get('host')
    if kubeconfig or not host:
        _load_kubeconfig(configuration, kubeconfig, params.get('context'))
    elif params.get('context'):
        raise KubeError('context %r needs a kubeconfig to look it up in: set kubeconfig, or leave context unset '
                        'when host is given' % params['context'])
    if host:
        configuration.host = host.rstrip('/')
    if params.get('api_key'):
        configuration.api_key = {'BearerToken': 'Bearer %s' % params['api_key']}
    if params.get('ca_cert'):
        configuration.ssl_ca_cert = params['ca_cert']
    if params.get('validate_certs') is not None:
        configuration.verify_ssl = params['validate_certs']
    return configuration


def _load_kubeconfig(configuration, path, context):
    source = path or os.environ.get('KUBECONFIG') or '~/.kube/config'
    if path and not os.path.exists(path):
        raise KubeError('kubeconfig %s does not exist: point kubeconfig at an existing file, or give host and '
                        'api_key instead' % path)
    try:
        k8s_config.load_kube_config(config_file=path, context=context, client_configuration=configuration,
                                    persist_config=False)
    except ConfigException as exc:
        raise KubeError('cannot use kubeconfig %s%s: %s' % (source, ' context %s' % context if context else '', exc)) \
            from None


def describe_source(params):
    """Where the connection comes from, for messages: ``kubeconfig PATH, context NAME`` or ``option host``."""
    if params.get('host') and not params.get('kubeconfig'):
        return 'option host'
    source = params.get('kubeconfig') or os.environ.get('KUBECONFIG') or '~/.kube/config'
    return 'kubeconfig %s, %s' % (source, 'context %s' % params['context'] if params.get('context') else 'its current context')


def connect(params, discovery_cache_dir=None):
    """A ``KubeClient`` for the connection options in ``params``, after checking the API server answers.

    ``discovery_cache_dir`` keeps the client's API discovery cache out of the shared temporary directory
    (modules pass ``module.tmpdir``, which Ansible removes afterwards).
    """
    configuration = build_configuration(params)
    cache_file = os.path.join(discovery_cache_dir, 'kube-discovery.json') if discovery_cache_dir else None
    try:
        dynamic = DynamicClient(k8s_client.ApiClient(configuration), cache_file=cache_file)
    except ApiException as exc:
        raise KubeError('the Kubernetes API at %s refused discovery: %s; check api_key or the kubeconfig '
                        'credentials' % (configuration.host, _api_message(exc)), exc.status, exc.reason) from None
    except (Urllib3HTTPError, OSError) as exc:
        raise KubeError('cannot reach the Kubernetes API at %s: %s; check host (or the kubeconfig context), '
                        'ca_cert and that the cluster is running' % (configuration.host, _root_cause(exc))) from None
    return KubeClient(dynamic, describe_source(params))


def _root_cause(exc):
    reason = getattr(exc, 'reason', None)
    return str(reason) if reason else str(exc)


@contextlib.contextmanager
def _answering(client, doing):
    """Turn the transport errors of a request (urllib3's, and the OSError under them) into a KubeError naming
    what was being done, the API server and where its address came from."""
    try:
        yield
    except (Urllib3HTTPError, OSError) as exc:
        raise KubeError('cannot %s: the Kubernetes API at %s (%s) does not answer: %s; check that the cluster is '
                        'running and that the kubeconfig context (or host) points at it'
                        % (doing, client.host, client.source, _root_cause(exc))) from None


def _api_message(exc):
    """The API server's own message from a Status body, else the HTTP status line."""
    try:
        message = json.loads(exc.body).get('message')
    except (TypeError, ValueError, AttributeError):
        message = None
    return message or '%s %s' % (exc.status, exc.reason)


def describe(api_version, kind, name, namespace=None):
    """``Kind namespace/name (apiVersion)``, as error messages name an object."""
    where = '%s/%s' % (namespace, name) if namespace else name
    return '%s %s (%s)' % (kind, where, api_version)


class KubeClient:
    """The operations the modules perform, on objects given as plain dicts.

    ``source`` says where the connection came from (``kubeconfig PATH, context NAME``): an API server that does
    not answer is reported with it, as a KubeError, like every other failure.
    """

    def __init__(self, dynamic, source='the connection options'):
        self.dynamic = dynamic
        self.source = source

    @property
    def host(self):
        return self.dynamic.configuration.host

    def _resource(self, api_version, kind):
        """The discovered resource, or None when the cluster does not serve it (transport errors pass through)."""
        # The prefix (/api for the core group, else /apis) makes discovery read only that group; without it a
        # version without a group (v1) is looked for in every group the cluster serves, one request each.
        try:
            return self.dynamic.resources.get(prefix='apis' if '/' in api_version else 'api', api_version=api_version,
                                              kind=kind)
        except ResourceNotFoundError:
            return None

    def _served_resource(self, api_version, kind):
        found = self._resource(api_version, kind)
        if found is None:
            raise KubeError('the cluster at %s does not serve %s %s; is the CRD that defines it installed?'
                            % (self.host, api_version, kind))
        return found

    def serves(self, api_version, kind):
        with _answering(self, 'look up %s %s' % (api_version, kind)):
            return self._resource(api_version, kind) is not None

    def get(self, api_version, kind, name, namespace=None):
        """The object as a dict, or None when it (or its kind) does not exist."""
        try:
            with _answering(self, 'read %s' % describe(api_version, kind, name, namespace)):
                resource = self._resource(api_version, kind)
                return resource.get(name=name, namespace=namespace).to_dict() if resource else None
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise self._error('read', exc, api_version, kind, name, namespace) from None

    def list(self, api_version, kind, namespace=None, label_selector=None):
        """The items (dicts) of ``kind``, optionally in one namespace and matching a label selector."""
        try:
            with _answering(self, 'list %s' % describe(api_version, kind, '*', namespace)):
                resource = self._resource(api_version, kind)
                if resource is None:
                    return []
                listed = resource.get(namespace=namespace, label_selector=label_selector)
        except ApiException as exc:
            raise self._error('list', exc, api_version, kind, '*', namespace) from None
        return listed.to_dict().get('items') or []

    def apply(self, definition, force_conflicts=True):
        """Server-side apply ``definition`` as field manager ``meshbridge``; return the object the server holds
        after it.

        ``force_conflicts`` takes over fields another manager set: the modules own what they declare.
        """
        api_version, kind = definition['apiVersion'], definition['kind']
        metadata = definition['metadata']
        try:
            with _answering(self, 'apply %s' % describe(api_version, kind, metadata['name'], metadata.get('namespace'))):
                applied = self._served_resource(api_version, kind).server_side_apply(
                    body=definition, name=metadata['name'], namespace=metadata.get('namespace'),
                    field_manager=FIELD_MANAGER, force_conflicts=force_conflicts)
        except ApiException as exc:
            raise self._error('apply', exc, api_version, kind, metadata['name'], metadata.get('namespace')) \
                from None
        return applied.to_dict()

    def delete(self, api_version, kind, name, namespace=None):
        """Delete the object; True if it existed, False if it (or its kind) was already gone."""
        try:
            with _answering(self, 'delete %s' % describe(api_version, kind, name, namespace)):
                resource = self._resource(api_version, kind)
                if resource is None:
                    return False
                resource.delete(name=name, namespace=namespace)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise self._error('delete', exc, api_version, kind, name, namespace) from None
        return True

    def request_token(self, namespace, service_account, body):
        """Create the TokenRequest ``body`` for the ServiceAccount; returns the response as a dict."""
        doing = 'request a token for ServiceAccount %s/%s' % (namespace, service_account)
        try:
            with _answering(self, doing):
                token_requests = self._served_resource('v1', 'ServiceAccount').subresources['token']
                return token_requests.create(body=body, name=service_account, namespace=namespace).to_dict()
        except ApiException as exc:
            raise KubeError('cannot %s at %s: %s' % (doing, self.host, _api_message(exc)), exc.status, exc.reason) \
                from None

    def review_token(self, token, audiences):
        """The status of a TokenReview of ``token`` for ``audiences``: whether this cluster authenticates it (as istiod
        checks a VM's bootstrap token), and as whom."""
        doing = 'review a token'
        body = {'apiVersion': 'authentication.k8s.io/v1', 'kind': 'TokenReview',
                'spec': {'token': token, 'audiences': list(audiences)}}
        try:
            with _answering(self, doing):
                reviews = self._served_resource('authentication.k8s.io/v1', 'TokenReview')
                return reviews.create(body=body).to_dict().get('status') or {}
        except ApiException as exc:
            raise KubeError('cannot %s at %s: %s' % (doing, self.host, _api_message(exc)), exc.status, exc.reason) \
                from None

    def whoami(self):
        """The user the API server authenticates these credentials as (``status.userInfo`` of a SelfSubjectReview,
        authentication.k8s.io/v1 since Kubernetes 1.28; what ``kubectl auth whoami`` asks)."""
        doing = 'ask who the credentials are (SelfSubjectReview)'
        body = {'apiVersion': 'authentication.k8s.io/v1', 'kind': 'SelfSubjectReview'}
        try:
            with _answering(self, doing):
                reviews = self._served_resource('authentication.k8s.io/v1', 'SelfSubjectReview')
                return (reviews.create(body=body).to_dict().get('status') or {}).get('userInfo') or {}
        except ApiException as exc:
            raise KubeError('cannot %s at %s: %s' % (doing, self.host, _api_message(exc)), exc.status, exc.reason) \
                from None

    def _error(self, verb, exc, api_version, kind, name, namespace):
        return KubeError('cannot %s %s at %s: %s' % (verb, describe(api_version, kind, name, namespace), self.host,
                                                     _api_message(exc)), exc.status, exc.reason)
