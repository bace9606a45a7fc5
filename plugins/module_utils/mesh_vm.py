# -*- coding: utf-8 -*-
# Copyright (c) meshbridge.istio_vm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""mesh_add_vm's backend: reads what it needs from the cluster, plans the objects and the bundle, then applies
(unless in check mode) and reports. Every check that can fail happens before the first change."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress
import json
import time

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import bootstrap_token, go_yaml, vm_bundle
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.bundle_dir import BundleDir
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.kube import describe
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.polling import PollTimeout, Poller
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.workload_group import (
    GROUP_ANNOTATION, MANAGED_BY, MANAGED_BY_LABEL, SERVICE_ACCOUNT_ANNOTATION, service_group)

ROOT_CERT_CONFIG_MAP = 'istio-ca-root-cert'
ROOT_CERT_KEY = 'root-cert.pem'
ISTIO_GROUP_VERSIONS = ('networking.istio.io/v1', 'networking.istio.io/v1beta1')
DEFAULT_TRUST_DOMAIN = 'cluster.local'
INSTALL_HINT = 'run meshbridge.istio_vm.istio_install first'


class MeshAddVmError(Exception):
    """A condition that stops mesh_add_vm before (or instead of) a change; the message says what to do."""


def object_ref(obj):
    metadata = obj['metadata']
    return describe(obj['apiVersion'], obj['kind'], metadata['name'], metadata.get('namespace'))


def _object_summary(obj, **extra):
    metadata = obj['metadata']
    summary = {'kind': obj['kind'], 'api_version': obj['apiVersion'], 'name': metadata['name'],
               'namespace': metadata['namespace']}
    summary.update(extra)
    return summary


def _is_ip(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def _contains(actual, wanted):
    """Whether ``actual`` has everything ``wanted`` has (dicts recursively; lists item by item, same length)."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(key in actual and _contains(actual[key], value) for key, value in wanted.items())
    if isinstance(wanted, list):
        return isinstance(actual, list) and len(actual) == len(wanted) and all(map(_contains, actual, wanted))
    return actual == wanted


class MeshVmRegistration:
    """Registers one VM workload group with the mesh (``state=present``) or removes it (``state=absent``)."""

    def __init__(self, kube, workload, params, check_mode=False, now=_utcnow, sleep=time.sleep):
        self.kube = kube
        self.workload = workload
        self.params = params
        self.check_mode = check_mode
        self.bundle = BundleDir(params['bundle_dir'])
        self._now = now
        self._sleep = sleep
        self.diffs = []
        self.warnings = []

    # ---- reading the cluster -------------------------------------------------------------------------------------

    def _served_istio_version(self, kind):
        for api_version in ISTIO_GROUP_VERSIONS:
            if self.kube.serves(api_version, kind):
                return api_version
        return None

    def _require_istio_version(self, kind):
        api_version = self._served_istio_version(kind)
        if api_version is None:
            raise MeshAddVmError('Istio is not installed in this cluster: the API server serves no %s '
                                 '(networking.istio.io v1 or v1beta1); %s' % (kind, INSTALL_HINT))
        return api_version

    def _require_namespace(self):
        if self.kube.get('v1', 'Namespace', self.workload.namespace) is None:
            raise MeshAddVmError('namespace %r does not exist: create it (and label it for injection) before adding '
                                 'VMs to it, or set namespace to an existing one' % self.workload.namespace)

    def _mesh_config(self):
        revision, istio_namespace = self.params['revision'], self.params['istio_namespace']
        name = vm_bundle.mesh_config_map_name(revision)
        config_map = self.kube.get('v1', 'ConfigMap', name, istio_namespace)
        if config_map is None:
            raise MeshAddVmError('ConfigMap %s/%s (the mesh config of revision %r) not found: Istio is not installed '
                                 'with that revision; %s, or set revision and istio_namespace to match the install'
                                 % (istio_namespace, name, revision or 'default', INSTALL_HINT))
        text = (config_map.get('data') or {}).get('mesh') or '{}'
        try:
            return go_yaml.yaml.safe_load(text) or {}
        except go_yaml.yaml.YAMLError as error:
            raise MeshAddVmError('ConfigMap %s/%s key mesh is not YAML: %s' % (istio_namespace, name, error)) from None

    def _cluster_id(self):
        """``values.global.multiCluster.clusterName`` of the injector config, as istioctl reads it."""
        if self.params.get('cluster_id'):
            return self.params['cluster_id']
        revision, istio_namespace = self.params['revision'], self.params['istio_namespace']
        name = vm_bundle.injector_config_map_name(revision)
        config_map = self.kube.get('v1', 'ConfigMap', name, istio_namespace) or {}
        try:
            values = json.loads((config_map.get('data') or {}).get('values') or '{}')
            cluster_id = values['global']['multiCluster']['clusterName']
        except (ValueError, KeyError, TypeError):
            cluster_id = None
        if not cluster_id:
            raise MeshAddVmError('cannot tell the cluster ID: ConfigMap %s/%s has no values.global.multiCluster.clusterName; '
                                 'set cluster_id to the cluster name Istio was installed with' % (istio_namespace, name))
        return cluster_id

    def _gateway_address(self):
        """The address the VM reaches istiod at: the istiod_address option, else the east-west gateway's address as
        istioctl looks it up: the first load balancer ingress's IP when there is an ingress, else the first external
        IP. None (an empty hosts file, with a warning) when there is none and require_gateway is false."""
        if self.params.get('istiod_address'):
            return self.params['istiod_address']
        name, namespace = self.params['gateway_service'], self.params['istio_namespace']
        service = self.kube.get('v1', 'Service', name, namespace)
        address = None
        if service is not None:
            ingress = ((service.get('status') or {}).get('loadBalancer') or {}).get('ingress') or []
            external = (service.get('spec') or {}).get('externalIPs') or []
            address = ingress[0].get('ip') if ingress else (external[0] if external else None)
        if address and _is_ip(address):
            return address
        problem = 'Service %s/%s %s' % (
            namespace, name, 'does not exist' if service is None else 'has no load balancer IP or external IP')
        if self.params.get('require_gateway', True):
            raise MeshAddVmError('no address found for istiod: %s; expose istiod through the east-west gateway '
                                 '(istio_install), set istiod_address to the IP the VM reaches istiod at, or set '
                                 'require_gateway=false for an empty hosts file' % problem)
        self.warnings.append('no address found for istiod (%s): the hosts file is empty, so the VM must resolve %s '
                             'itself' % (problem, vm_bundle.istiod_host(namespace, self.params['revision'])))
        return None

    def _root_cert(self):
        """Key root-cert.pem of ConfigMap istio-ca-root-cert in the group's namespace. istiod publishes it into
        every namespace shortly after the namespace appears, so wait for it up to wait_timeout."""
        namespace = self.workload.namespace

        def read():
            config_map = self.kube.get('v1', 'ConfigMap', ROOT_CERT_CONFIG_MAP, namespace)
            return ((config_map or {}).get('data') or {}).get(ROOT_CERT_KEY)

        try:
            root_cert, _reads, _elapsed = Poller(sleep=self._sleep).until(
                read, bool, self.params['wait_timeout'], lambda value: 'ConfigMap %s/%s has no key %s'
                % (namespace, ROOT_CERT_CONFIG_MAP, ROOT_CERT_KEY))
        except PollTimeout:
            raise MeshAddVmError('ConfigMap %s/%s with key %s did not appear within %d s: istiod publishes it once it '
                                 'runs; check istiod in %s (or raise wait_timeout)'
                                 % (namespace, ROOT_CERT_CONFIG_MAP, ROOT_CERT_KEY, self.params['wait_timeout'],
                                    self.params['istio_namespace'])) from None
        return root_cert

    # ---- planning objects ------------------------------------------------------------------------------------------

    def _desired_objects(self):
        workload = self.workload
        if workload.legacy:
            return [workload.service_account_object(), workload.legacy_service_object(),
                    workload.service_entry_object(self._require_istio_version('ServiceEntry'))]
        group_version = self._require_istio_version('WorkloadGroup')
        desired = [workload.service_account_object(), workload.workload_group_object(group_version)] + workload.service_objects()
        if not workload.auto_register:
            desired.append(workload.workload_entry_object(self._require_istio_version('WorkloadEntry')))
        return desired

    @staticmethod
    def _owned_fields(obj):
        """The parts of an object this module decides; the server may add anything else."""
        metadata = obj['metadata']
        owned = {'labels': metadata.get('labels') or {}, 'annotations': metadata.get('annotations') or {}}
        if obj['kind'] == 'Service':
            owned['spec'] = {'ports': obj['spec']['ports'], 'selector': obj['spec'].get('selector') or {}}
        elif 'spec' in obj:
            owned['spec'] = obj['spec']
        return owned

    def _plan_object(self, desired):
        existing = self.kube.get(desired['apiVersion'], desired['kind'], desired['metadata']['name'],
                                 desired['metadata']['namespace'])
        if existing is None:
            return 'create', None
        if desired['kind'] == 'ServiceAccount':
            return 'none', existing  # an existing account is used as it is
        if (existing['metadata'].get('labels') or {}).get(MANAGED_BY_LABEL) != MANAGED_BY:
            raise MeshAddVmError('%s exists and was not made by meshbridge.istio_vm (no label %s=%s): delete it, or '
                                 'choose another name' % (object_ref(desired), MANAGED_BY_LABEL, MANAGED_BY))
        if desired['kind'] == 'Service' and service_group(existing) != self.workload.name:
            raise MeshAddVmError('%s belongs to workload group %r (annotation %s, or its name): choose another name in '
                                 'services, or drop the Service from that group first'
                                 % (object_ref(desired), service_group(existing), GROUP_ANNOTATION))
        return ('update' if self._drifted(existing, desired) else 'none'), existing

    @classmethod
    def _drifted(cls, existing, desired):
        """Whether the server's object differs from ours in the fields we own: something we set is missing or
        different, or the spec holds something we no longer set (a removed port, probe or selector key).
        Labels and annotations others add, and defaults the server fills into list items, are not drift."""
        have, wanted = cls._owned_fields(existing), cls._owned_fields(desired)
        if not _contains(have, wanted):
            return True
        return 'spec' in wanted and not _contains(wanted['spec'], cls._without_item_defaults(have['spec'], wanted['spec']))

    @classmethod
    def _without_item_defaults(cls, have, wanted):
        """``have`` with list items cut down to the keys ``wanted``'s items have (port protocol, targetPort...)."""
        if isinstance(have, dict) and isinstance(wanted, dict):
            return dict((key, cls._without_item_defaults(value, wanted.get(key))) for key, value in have.items())
        if isinstance(have, list) and isinstance(wanted, list) and len(have) == len(wanted):
            return [dict((key, item[key]) for key in want if key in item) if isinstance(item, dict) and isinstance(want, dict)
                    else item for item, want in zip(have, wanted)]
        return have

    def _check_kept(self, desired, stored):
        """Warn when the server pruned fields it does not know (a CRD older than the fields used): the next run
        would see the difference again and report a change every time."""
        if not _contains(self._owned_fields(stored), self._owned_fields(desired)):
            self.warnings.append('the API server did not keep all fields of %s (its schema may predate them): '
                                 'sent %s, stored %s' % (object_ref(desired), json.dumps(desired.get('spec'), sort_keys=True),
                                                         json.dumps(stored.get('spec'), sort_keys=True)))

    def _object_diff(self, action, desired, existing):
        header = object_ref(desired)
        before = go_yaml.dump(self._owned_fields(existing)) if existing else ''
        after = go_yaml.dump(self._owned_fields(desired)) if action != 'delete' else ''
        self.diffs.append({'before_header': header, 'after_header': header, 'before': before, 'after': after})

    # ---- the bundle ------------------------------------------------------------------------------------------------

    def _token_plan(self):
        existing = self.bundle.read('istio-token')
        namespace, service_account = self.workload.namespace, self.workload.service_account
        reason = bootstrap_token.reissue_reason(existing, namespace, service_account,
                                                self.params['token_renew_before'], self._now())
        if reason is None:
            # Its claims look right; only the cluster can say whether it still signs for them.
            reason = bootstrap_token.review_reason(self.kube.review_token(existing, [bootstrap_token.AUDIENCE]),
                                                   namespace, service_account)
        return existing, reason

    def _issue_token(self):
        """A TokenRequest for the group's service account, audience istio-ca, as istioctl makes it."""
        namespace, service_account = self.workload.namespace, self.workload.service_account
        body = {'apiVersion': 'authentication.k8s.io/v1', 'kind': 'TokenRequest',
                'spec': {'audiences': [bootstrap_token.AUDIENCE], 'expirationSeconds': self.params['token_duration']}}
        response = self.kube.request_token(namespace, service_account, body)
        return response['status']['token']

    def _bundle_group(self, objects):
        """The WorkloadGroup the bundle is rendered from (in legacy mode, the group istioctl would have been given)."""
        for obj in objects:
            if obj['kind'] == 'WorkloadGroup':
                return obj
        return self.workload.workload_group_object(ISTIO_GROUP_VERSIONS[0])

    # ---- the two states --------------------------------------------------------------------------------------------

    def present(self):
        self._require_namespace()
        desired = self._desired_objects()
        mesh_config = self._mesh_config()
        cluster_id = self._cluster_id()
        gateway_address = self._gateway_address()
        root_cert = self._root_cert()
        plans = [(obj,) + self._plan_object(obj) for obj in desired]
        # What an earlier run in another mode made and this one does not (a static entry once auto-registration
        # is on, the legacy ServiceEntry once a WorkloadGroup takes over, and the reverse) would keep routing.
        wanted = set((obj['kind'], obj['metadata']['name']) for obj in desired)
        plans += [(obj, 'delete', obj) for obj in self._made_objects()
                  if (obj['kind'], obj['metadata']['name']) not in wanted and obj['kind'] != 'ServiceAccount']
        token, reissue_reason = self._token_plan()

        for obj, action, existing in plans:
            if action != 'none':
                self._object_diff(action, obj, existing)
        if not self.check_mode:
            for obj, action, existing in plans:
                if action in ('create', 'update'):
                    self._check_kept(obj, self.kube.apply(obj))
            self._delete([obj for obj, action, _existing in plans if action == 'delete'])
            if reissue_reason:
                token = self._issue_token()

        inputs = vm_bundle.BundleInputs(
            self._bundle_group(desired), mesh_config, cluster_id, root_cert, token or '', gateway_address,
            revision=self.params['revision'], istio_namespace=self.params['istio_namespace'],
            auto_register=self.workload.auto_register and not self.workload.legacy,
            capture_dns=self.params['capture_dns'], internal_ip=self.workload.address)
        files = vm_bundle.render(inputs)
        changed_files = self._apply_bundle(files, token_reissued=bool(reissue_reason))

        expires = bootstrap_token.expiry(bootstrap_token.claims(token))
        trust_domain = mesh_config.get('trustDomain') or DEFAULT_TRUST_DOMAIN
        changed = bool(changed_files) or any(action != 'none' for _obj, action, _existing in plans)
        return {
            'changed': changed,
            'bundle_dir': self.bundle.path,
            'bundle_files': dict((name, self.bundle.file_path(name)) for name in vm_bundle.FILE_NAMES),
            'changed_files': changed_files,
            'objects': [_object_summary(obj, action=action) for obj, action, _existing in plans],
            'workload_group': None if self.workload.legacy else self.workload.name,
            'service': self.workload.services[0].name if self.workload.services else None,
            'services': [service.name for service in self.workload.services],
            'service_account': self.workload.service_account,
            'workload_entry': self.workload.workload_entry_name if not (self.workload.legacy or self.workload.auto_register) else None,
            'service_entry': self.workload.service_entry_name if self.workload.legacy else None,
            'spiffe_id': 'spiffe://%s/%s' % (trust_domain, self.workload.spiffe_path),
            'istiod_host': vm_bundle.istiod_host(self.params['istio_namespace'], self.params['revision']),
            'istiod_address': gateway_address,
            'cluster_id': cluster_id,
            'token_reissued': bool(reissue_reason),
            'token_reissue_reason': reissue_reason,
            'token_expires_at': expires.isoformat() if expires and not (self.check_mode and reissue_reason) else None,
        }

    def _apply_bundle(self, files, token_reissued):
        """Write the files that differ; returns their names. The token's content never enters the diff."""
        changed = [name for name in vm_bundle.FILE_NAMES
                   if (name == 'istio-token' and token_reissued) or self.bundle.file_needs_change(name, files[name])]
        for name in changed:
            before = self.bundle.read(name)
            if name == 'istio-token':
                before = '' if before is None else '(previous token)\n'
                after = '(token for %s, audience %s)\n' % (
                    bootstrap_token.subject(self.workload.namespace, self.workload.service_account), bootstrap_token.AUDIENCE)
            else:
                after = files[name]
            path = self.bundle.file_path(name)
            self.diffs.append({'before_header': path, 'after_header': path, 'before': before or '', 'after': after})
        dir_changed = self.bundle.dir_needs_change()
        if not self.check_mode and (changed or dir_changed):
            self.bundle.ensure_dir()
            for name in changed:
                self.bundle.write(name, files[name])
        if dir_changed and not changed:
            changed = ['.']
        return changed

    def _made_objects(self):
        """The objects of this group that exist and carry our managed-by label, whatever mode made them."""
        workload, namespace = self.workload, self.workload.namespace
        managed = '%s=%s' % (MANAGED_BY_LABEL, MANAGED_BY)
        named = [('v1', 'ServiceAccount', workload.service_account)]
        for kind, name in (('WorkloadGroup', workload.name), ('ServiceEntry', workload.service_entry_name)):
            api_version = self._served_istio_version(kind)
            if api_version:
                named.append((api_version, kind, name))
        made = []
        for api_version, kind, name in named:
            existing = self.kube.get(api_version, kind, name, namespace)
            if existing and (existing['metadata'].get('labels') or {}).get(MANAGED_BY_LABEL) == MANAGED_BY:
                made.append(existing)
        # The group's Services under whatever names earlier runs listed in services; other groups' stay.
        made.extend(service for service in self.kube.list('v1', 'Service', namespace, managed)
                    if service_group(service) == workload.name)
        entry_version = self._served_istio_version('WorkloadEntry')
        if entry_version:
            # Static entries name their group; istiod's auto-registered ones carry no managed-by label.
            made.extend(entry for entry in self.kube.list(entry_version, 'WorkloadEntry', namespace, managed)
                        if (entry['metadata'].get('annotations') or {}).get(GROUP_ANNOTATION) == workload.name)
        return made

    def _delete(self, doomed):
        # The group's objects before its service account, so nothing is left pointing at a missing identity.
        for obj in sorted(doomed, key=lambda item: item['kind'] == 'ServiceAccount'):
            metadata = obj['metadata']
            self.kube.delete(obj['apiVersion'], obj['kind'], metadata['name'], metadata['namespace'])

    def _service_account_users(self):
        """What else this module made in the namespace that runs as the group's service account: other
        WorkloadGroups naming it as their serviceAccount, and other groups' legacy Services annotated with it."""
        workload, namespace = self.workload, self.workload.namespace
        managed = '%s=%s' % (MANAGED_BY_LABEL, MANAGED_BY)
        users = []
        group_version = self._served_istio_version('WorkloadGroup')
        if group_version:
            users.extend('WorkloadGroup %s' % group['metadata']['name']
                         for group in self.kube.list(group_version, 'WorkloadGroup', namespace, managed)
                         if group['metadata']['name'] != workload.name
                         and ((group.get('spec') or {}).get('template') or {}).get('serviceAccount') == workload.service_account)
        users.extend('Service %s' % service['metadata']['name']
                     for service in self.kube.list('v1', 'Service', namespace, managed)
                     if service_group(service) != workload.name
                     and (service['metadata'].get('annotations') or {}).get(SERVICE_ACCOUNT_ANNOTATION) == workload.service_account)
        return users

    def absent(self):
        """Delete what present made (objects carrying our managed-by label) and the bundle files. The service
        account stays while another group of this module still runs as it."""
        doomed = self._made_objects() if self.kube.get('v1', 'Namespace', self.workload.namespace) is not None else []
        kept = []
        if any(obj['kind'] == 'ServiceAccount' for obj in doomed):
            users = self._service_account_users()
            if users:
                kept = [_object_summary(obj, reason='still the service account of %s' % ', '.join(users))
                        for obj in doomed if obj['kind'] == 'ServiceAccount']
                doomed = [obj for obj in doomed if obj['kind'] != 'ServiceAccount']
        for obj in doomed:
            self._object_diff('delete', obj, obj)
        files = self.bundle.existing(vm_bundle.FILE_NAMES)
        for name in files:
            path = self.bundle.file_path(name)
            before = '(token)\n' if name == 'istio-token' else self.bundle.read(name)
            self.diffs.append({'before_header': path, 'after_header': path, 'before': before, 'after': ''})
        if not self.check_mode:
            self._delete(doomed)
            self.bundle.remove(vm_bundle.FILE_NAMES)
        return {
            'changed': bool(doomed or files),
            'bundle_dir': self.bundle.path,
            'objects': [_object_summary(obj, action='delete') for obj in doomed],
            'kept_objects': kept,
            'changed_files': files,
        }
