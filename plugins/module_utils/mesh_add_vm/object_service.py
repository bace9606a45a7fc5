# -*- coding: utf-8 -*-
# Copyright (c) meshbridge.istio_vm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Kubernetes objects of one VM workload group: which ones it needs, a plan (create, update, none, delete)
against what the cluster holds, the diff of that plan, and applying it (server-side apply, then deletes). Also
which objects earlier runs made for the group, and who else still runs as its service account."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import go_yaml
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.kube import describe
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.mesh_add_vm.errors import MeshAddVmError
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.workload_group import (
    GROUP_ANNOTATION, MANAGED_BY, MANAGED_BY_LABEL, SERVICE_ACCOUNT_ANNOTATION, service_group)

_MANAGED_SELECTOR = '%s=%s' % (MANAGED_BY_LABEL, MANAGED_BY)


def object_ref(obj):
    metadata = obj['metadata']
    return describe(obj['apiVersion'], obj['kind'], metadata['name'], metadata.get('namespace'))


def object_summary(obj, **extra):
    """An object as the module's ``objects`` and ``kept_objects`` list it."""
    metadata = obj['metadata']
    summary = {'kind': obj['kind'], 'api_version': obj['apiVersion'], 'name': metadata['name'],
               'namespace': metadata['namespace']}
    summary.update(extra)
    return summary


def _managed(obj):
    return (obj['metadata'].get('labels') or {}).get(MANAGED_BY_LABEL) == MANAGED_BY


def _contains(actual, wanted):
    """Whether ``actual`` has everything ``wanted`` has (dicts recursively; lists item by item, same length)."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(key in actual and _contains(actual[key], value)
                                                for key, value in wanted.items())
    if isinstance(wanted, list):
        return isinstance(actual, list) and len(actual) == len(wanted) and all(map(_contains, actual, wanted))
    return actual == wanted


def _owned_fields(obj):
    """The parts of an object this module decides; the server may add anything else."""
    metadata = obj['metadata']
    owned = {'labels': metadata.get('labels') or {}, 'annotations': metadata.get('annotations') or {}}
    if obj['kind'] == 'Service':
        owned['spec'] = {'ports': obj['spec']['ports'], 'selector': obj['spec'].get('selector') or {}}
    elif 'spec' in obj:
        owned['spec'] = obj['spec']
    return owned


def _without_item_defaults(have, wanted):
    """``have`` with list items cut down to the keys ``wanted``'s items have (port protocol, targetPort...)."""
    if isinstance(have, dict) and isinstance(wanted, dict):
        return dict((key, _without_item_defaults(value, wanted.get(key))) for key, value in have.items())
    if isinstance(have, list) and isinstance(wanted, list) and len(have) == len(wanted):
        return [dict((key, item[key]) for key in want if key in item)
                if isinstance(item, dict) and isinstance(want, dict) else item
                for item, want in zip(have, wanted)]
    return have


def _drifted(existing, desired):
    """Whether the server's object differs from ours in the fields we own: something we set is missing or
    different, or the spec holds something we no longer set (a removed port, probe or selector key).
    Labels and annotations others add, and defaults the server fills into list items, are not drift."""
    have, wanted = _owned_fields(existing), _owned_fields(desired)
    if not _contains(have, wanted):
        return True
    return 'spec' in wanted and not _contains(wanted['spec'], _without_item_defaults(have['spec'], wanted['spec']))


class Plan:
    """What to do to one object: ``action`` create, update, none or delete; ``existing`` is the server's object
    (None for create)."""

    def __init__(self, obj, action, existing):
        self.obj = obj
        self.action = action
        self.existing = existing

    def summary(self):
        return object_summary(self.obj, action=self.action)


class ObjectService:
    """The objects of ``workload`` (a VmWorkload) in the cluster behind ``kube``; Istio's API versions come from
    ``facts`` (a ClusterFacts). ``diffs`` and ``warnings`` collect what the module reports."""

    def __init__(self, kube, facts, workload):
        self.kube = kube
        self.facts = facts
        self.workload = workload
        self.diffs = []
        self.warnings = []

    def desired(self):
        """The objects the group needs in its mode."""
        workload = self.workload
        if workload.legacy:
            return [workload.service_account_object(), workload.legacy_service_object(),
                    workload.service_entry_object(self.facts.require_istio_version('ServiceEntry'))]
        group_version = self.facts.require_istio_version('WorkloadGroup')
        desired = [workload.service_account_object(), workload.workload_group_object(group_version)]
        desired += workload.service_objects()
        if not workload.auto_register:
            desired.append(workload.workload_entry_object(self.facts.require_istio_version('WorkloadEntry')))
        return desired

    def plan(self, desired):
        """A Plan per desired object, then a delete for each object an earlier run made for the group that the
        current mode does not use (a static entry once auto-registration is on, the legacy ServiceEntry once a
        WorkloadGroup takes over, and the reverse, and Services no longer listed), which would keep routing.
        Refuses objects that exist but are not the group's, before anything changes."""
        plans = [self._plan_object(obj) for obj in desired]
        wanted = set((obj['kind'], obj['metadata']['name']) for obj in desired)
        plans += [Plan(obj, 'delete', obj) for obj in self.made_objects()
                  if (obj['kind'], obj['metadata']['name']) not in wanted and obj['kind'] != 'ServiceAccount']
        return plans

    def _plan_object(self, desired):
        metadata = desired['metadata']
        existing = self.kube.get(desired['apiVersion'], desired['kind'], metadata['name'], metadata['namespace'])
        if existing is None:
            return Plan(desired, 'create', None)
        if desired['kind'] == 'ServiceAccount':
            return Plan(desired, 'none', existing)  # an existing account is used as it is
        if not _managed(existing):
            raise MeshAddVmError('%s exists and was not made by meshbridge.istio_vm (no label %s=%s): delete it, or '
                                 'choose another name' % (object_ref(desired), MANAGED_BY_LABEL, MANAGED_BY))
        if desired['kind'] == 'Service' and service_group(existing) != self.workload.name:
            raise MeshAddVmError('%s belongs to workload group %r (annotation %s, or its name): choose another name in '
                                 'services, or drop the Service from that group first'
                                 % (object_ref(desired), service_group(existing), GROUP_ANNOTATION))
        return Plan(desired, 'update' if _drifted(existing, desired) else 'none', existing)

    def plan_absent(self):
        """Deletes of what earlier runs made for the group, and the summaries of objects kept: the service account
        stays while another group of this module still runs as it."""
        doomed = self.made_objects() if self.facts.namespace_exists() else []
        kept = []
        if any(obj['kind'] == 'ServiceAccount' for obj in doomed):
            users = self.service_account_users()
            if users:
                kept = [object_summary(obj, reason='still the service account of %s' % ', '.join(users))
                        for obj in doomed if obj['kind'] == 'ServiceAccount']
                doomed = [obj for obj in doomed if obj['kind'] != 'ServiceAccount']
        return [Plan(obj, 'delete', obj) for obj in doomed], kept

    def diff(self, plans):
        """A diff entry per object that changes: the fields the module owns, before and after."""
        for plan in plans:
            if plan.action == 'none':
                continue
            header = object_ref(plan.obj)
            before = go_yaml.dump(_owned_fields(plan.existing)) if plan.existing else ''
            after = go_yaml.dump(_owned_fields(plan.obj)) if plan.action != 'delete' else ''
            self.diffs.append({'before_header': header, 'after_header': header, 'before': before, 'after': after})

    def apply(self, plans):
        """Server-side apply of what is created or updated, then the deletes."""
        for plan in plans:
            if plan.action in ('create', 'update'):
                self._check_kept(plan.obj, self.kube.apply(plan.obj))
        # The group's objects before its service account, so nothing is left pointing at a missing identity.
        doomed = [plan.obj for plan in plans if plan.action == 'delete']
        for obj in sorted(doomed, key=lambda item: item['kind'] == 'ServiceAccount'):
            metadata = obj['metadata']
            self.kube.delete(obj['apiVersion'], obj['kind'], metadata['name'], metadata['namespace'])

    def _check_kept(self, desired, stored):
        """Warn when the server pruned fields it does not know (a CRD older than the fields used): the next run
        would see the difference again and report a change every time."""
        if not _contains(_owned_fields(stored), _owned_fields(desired)):
            self.warnings.append('the API server did not keep all fields of %s (its schema may predate them): '
                                 'sent %s, stored %s' % (object_ref(desired),
                                                         json.dumps(desired.get('spec'), sort_keys=True),
                                                         json.dumps(stored.get('spec'), sort_keys=True)))

    def made_objects(self):
        """The objects of this group that exist and carry our managed-by label, whatever mode made them."""
        workload, namespace = self.workload, self.workload.namespace
        named = [('v1', 'ServiceAccount', workload.service_account)]
        for kind, name in (('WorkloadGroup', workload.name), ('ServiceEntry', workload.service_entry_name)):
            api_version = self.facts.served_istio_version(kind)
            if api_version:
                named.append((api_version, kind, name))
        made = []
        for api_version, kind, name in named:
            existing = self.kube.get(api_version, kind, name, namespace)
            if existing and _managed(existing):
                made.append(existing)
        # The group's Services under whatever names earlier runs listed in services; other groups' stay.
        made.extend(service for service in self.kube.list('v1', 'Service', namespace, _MANAGED_SELECTOR)
                    if service_group(service) == workload.name)
        entry_version = self.facts.served_istio_version('WorkloadEntry')
        if entry_version:
            # Static entries name their group; istiod's auto-registered ones carry no managed-by label.
            made.extend(entry for entry in self.kube.list(entry_version, 'WorkloadEntry', namespace, _MANAGED_SELECTOR)
                        if (entry['metadata'].get('annotations') or {}).get(GROUP_ANNOTATION) == workload.name)
        return made

    def service_account_users(self):
        """What else this module made in the namespace that runs as the group's service account: other
        WorkloadGroups naming it as their serviceAccount, and other groups' legacy Services annotated with it."""
        workload, namespace = self.workload, self.workload.namespace
        account = workload.service_account
        users = []
        group_version = self.facts.served_istio_version('WorkloadGroup')
        if group_version:
            users.extend('WorkloadGroup %s' % group['metadata']['name']
                         for group in self.kube.list(group_version, 'WorkloadGroup', namespace, _MANAGED_SELECTOR)
                         if group['metadata']['name'] != workload.name
                         and ((group.get('spec') or {}).get('template') or {}).get('serviceAccount') == account)
        users.extend('Service %s' % service['metadata']['name']
                     for service in self.kube.list('v1', 'Service', namespace, _MANAGED_SELECTOR)
                     if service_group(service) != workload.name
                     and (service['metadata'].get('annotations') or {}).get(SERVICE_ACCOUNT_ANNOTATION) == account)
        return users
