# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One cluster/user/context entry in a kubeconfig file, merged without touching the other entries."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import binascii
import copy
import os

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.atomic_file import write_file

try:
    import yaml
    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the controller's Python
    HAS_YAML = False
    YAML_IMPORT_ERROR = exc

# What `gcloud container clusters get-credentials` writes for the user since GKE 1.26.
GKE_AUTH_PLUGIN = 'gke-gcloud-auth-plugin'
EXEC_API_VERSION = 'client.authentication.k8s.io/v1beta1'
INSTALL_HINT = ('Install gke-gcloud-auth-plugin for use with kubectl by following '
                'https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin')
REDACTED = 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'


class KubeconfigError(Exception):
    pass


def empty_config():
    return {'apiVersion': 'v1', 'kind': 'Config', 'preferences': {}, 'clusters': [], 'users': [], 'contexts': [],
            'current-context': ''}


def load(path):
    """The parsed kubeconfig at ``path``, or an empty one when the file does not exist."""
    if not os.path.exists(path):
        return empty_config()
    try:
        with open(path, encoding='utf-8') as handle:
            config = yaml.safe_load(handle) or empty_config()
    except (OSError, yaml.YAMLError) as exc:
        raise KubeconfigError('cannot read kubeconfig %s: %s' % (path, exc))
    if not isinstance(config, dict):
        raise KubeconfigError('kubeconfig %s is not a mapping' % path)
    for section in ('clusters', 'users', 'contexts'):
        config[section] = config.get(section) or []
    return config


def check_certificate_authority_data(value):
    """Refuse a certificate_authority_data that is not base64 of a PEM certificate; a raw PEM pasted as it stands is
    the usual mistake, and kubectl would only fail on it later."""
    text = ''.join((value or '').split())
    if text.startswith('-----BEGIN'):
        raise KubeconfigError('certificate_authority_data is a PEM certificate, not base64 of one (as GKE\'s '
                              'masterAuth.clusterCaCertificate is): encode it, for example '
                              '"{{ ca_pem | b64encode }}"')
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KubeconfigError('certificate_authority_data is not base64: give the cluster CA certificate (PEM) '
                              'base64-encoded, as GKE\'s masterAuth.clusterCaCertificate is') from None
    if b'-----BEGIN CERTIFICATE-----' not in decoded:
        raise KubeconfigError('certificate_authority_data decodes to no PEM certificate (no "-----BEGIN '
                              'CERTIFICATE-----"): give the cluster CA certificate (PEM) base64-encoded')


# gke-gcloud-auth-plugin gets gcloud's active account's token unless this flag makes it use Application Default
# Credentials (`gke-gcloud-auth-plugin --help`: "Output is an ExecCredential filled with application default
# credentials"), found as google-auth finds them, GOOGLE_APPLICATION_CREDENTIALS first.
ADC_FLAG = '--use_application_default_credentials'
ADC_VARIABLE = 'GOOGLE_APPLICATION_CREDENTIALS'


def user_entry(auth, token=None, application_default_credentials=False, credentials_file=None):
    """The kubeconfig user: a static token, or gke-gcloud-auth-plugin as gcloud writes it, optionally with the
    Application Default Credentials (from ``credentials_file`` when given) instead of gcloud's active account."""
    if auth == 'token':
        return {'token': token}
    plugin = {'apiVersion': EXEC_API_VERSION, 'command': GKE_AUTH_PLUGIN, 'installHint': INSTALL_HINT,
              'provideClusterInfo': True, 'interactiveMode': 'IfAvailable'}
    if application_default_credentials:
        plugin['args'] = [ADC_FLAG]
        if credentials_file:
            plugin['env'] = [{'name': ADC_VARIABLE, 'value': credentials_file}]
    return {'exec': plugin}


def _upsert(entries, name, key, value):
    for entry in entries:
        if entry.get('name') == name:
            entry[key] = value
            return
    entries.append({'name': name, key: value})


def _remove(entries, name):
    entries[:] = [entry for entry in entries if entry.get('name') != name]


def merge(config, params):
    """A copy of ``config`` with the entry of ``params`` present (or absent); the other entries are untouched."""
    config = copy.deepcopy(config)
    context, cluster, user = params['context'], params['cluster_name'], params['user_name'] or params['cluster_name']
    if params['state'] == 'absent':
        _remove(config['contexts'], context)
        # The cluster and user entries go only when no remaining context refers to them.
        still_used = [entry.get('context') or {} for entry in config['contexts']]
        if not any(used.get('cluster') == cluster for used in still_used):
            _remove(config['clusters'], cluster)
        if not any(used.get('user') == user for used in still_used):
            _remove(config['users'], user)
        if config.get('current-context') == context:
            config['current-context'] = ''
        return config
    _upsert(config['clusters'], cluster, 'cluster', {
        'server': params['server'], 'certificate-authority-data': params['certificate_authority_data']})
    entry = user_entry(params['auth'], params.get('token'), params.get('application_default_credentials'),
                       params.get('credentials_file'))
    _upsert(config['users'], user, 'user', entry)
    context_entry = {'cluster': cluster, 'user': user}
    if params.get('namespace'):
        context_entry['namespace'] = params['namespace']
    _upsert(config['contexts'], context, 'context', context_entry)
    if params['set_current']:
        config['current-context'] = context
    return config


def entry_view(config, params):
    """The part of ``config`` this entry owns, with any token redacted: what the diff shows."""
    context, cluster, user = params['context'], params['cluster_name'], params['user_name'] or params['cluster_name']

    def find(section, name):
        for entry in config.get(section) or []:
            if entry.get('name') == name:
                return copy.deepcopy(entry)
        return None

    view = {'cluster': find('clusters', cluster), 'user': find('users', user), 'context': find('contexts', context),
            'current-context': config.get('current-context')}
    if view['user'] and (view['user'].get('user') or {}).get('token'):
        view['user']['user']['token'] = REDACTED
    return view


def write(module, path, config):
    """Write ``config`` to ``path`` atomically (``module``'s atomic_move), mode 0600 (it may hold credentials). A
    symlinked kubeconfig is written where the link points, so the link stays."""
    path = os.path.realpath(path)
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    write_file(module, path, yaml.safe_dump(config, default_flow_style=False, sort_keys=False), 0o600)
