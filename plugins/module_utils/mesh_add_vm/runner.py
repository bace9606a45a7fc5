# -*- coding: utf-8 -*-
# Copyright (c) meshbridge.istio_vm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""mesh_add_vm's backend, in the order kubernetes.core's modules follow: read the cluster's facts (ClusterFacts),
plan the objects and diff them (ObjectService), then, unless in check mode, apply the plan, issue the token and
write the bundle (BundleWriter), and report. Every check that can fail happens before the first change."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import time

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import bootstrap_token, vm_bundle
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.mesh_add_vm.bundle_writer import BundleWriter
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.mesh_add_vm.cluster_facts import (
    ISTIO_GROUP_VERSIONS, ClusterFacts)
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.mesh_add_vm.object_service import ObjectService


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


class MeshAddVmRunner:
    """Registers one VM workload group with the mesh (``present``) or removes it (``absent``). ``workload`` is the
    VmWorkload of the module's parameters ``params``. After a run, ``diffs`` and ``warnings`` hold what the module
    reports besides the result. ``module`` (the AnsibleModule) writes the bundle's files."""

    def __init__(self, kube, workload, params, check_mode=False, now=_utcnow, sleep=time.sleep, module=None):
        self.workload = workload
        self.params = params
        self.check_mode = check_mode
        self._now = now
        self.facts = ClusterFacts(kube, params, workload.namespace, sleep=sleep)
        self.object_service = ObjectService(kube, self.facts, workload)
        self.writer = BundleWriter(kube, workload, params['bundle_dir'], check_mode=check_mode, module=module)

    @property
    def diffs(self):
        return self.object_service.diffs + self.writer.diffs

    @property
    def warnings(self):
        return self.facts.warnings + self.object_service.warnings

    def _bundle_group(self, desired):
        """The WorkloadGroup the bundle is rendered from (in legacy mode, the group istioctl would have been given)."""
        for obj in desired:
            if obj['kind'] == 'WorkloadGroup':
                return obj
        return self.workload.workload_group_object(ISTIO_GROUP_VERSIONS[0])

    def present(self):
        workload, params = self.workload, self.params
        self.facts.require_namespace()
        desired = self.object_service.desired()
        mesh_config = self.facts.mesh_config()
        cluster_id = self.facts.cluster_id()
        istiod_address = self.facts.istiod_address()
        root_cert = self.facts.root_cert()
        plans = self.object_service.plan(desired)
        token, reissue_reason = self.writer.token_plan(params['token_renew_before'], self._now())

        self.object_service.diff(plans)
        if not self.check_mode:
            self.object_service.apply(plans)
            if reissue_reason:
                token = self.writer.issue_token(params['token_duration'])

        inputs = vm_bundle.BundleInputs(
            self._bundle_group(desired), mesh_config, cluster_id, root_cert, token or '', istiod_address,
            revision=params['revision'], istio_namespace=params['istio_namespace'],
            auto_register=workload.auto_register and not workload.legacy,
            capture_dns=params['capture_dns'], internal_ip=workload.address)
        changed_files = self.writer.write(vm_bundle.render(inputs), token_reissued=bool(reissue_reason))

        expires = bootstrap_token.expiry(bootstrap_token.claims(token))
        return {
            'changed': bool(changed_files) or any(plan.action != 'none' for plan in plans),
            'bundle_dir': self.writer.path,
            'bundle_files': self.writer.file_paths(),
            'changed_files': changed_files,
            'objects': [plan.summary() for plan in plans],
            'workload_group': None if workload.legacy else workload.name,
            'service': workload.services[0].name if workload.services else None,
            'services': [service.name for service in workload.services],
            'service_account': workload.service_account,
            'workload_entry': workload.workload_entry_name if not (workload.legacy or workload.auto_register) else None,
            'service_entry': workload.service_entry_name if workload.legacy else None,
            'spiffe_id': 'spiffe://%s/%s' % (self.facts.trust_domain(mesh_config), workload.spiffe_path),
            'istiod_host': vm_bundle.istiod_host(params['istio_namespace'], params['revision']),
            'istiod_address': istiod_address,
            'cluster_id': cluster_id,
            'token_reissued': bool(reissue_reason),
            'token_reissue_reason': reissue_reason,
            'token_expires_at': expires.isoformat() if expires and not (self.check_mode and reissue_reason) else None,
        }

    def absent(self):
        """Delete what present made (objects carrying our managed-by label) and the bundle files. The service
        account stays while another group of this module still runs as it."""
        plans, kept = self.object_service.plan_absent()
        self.object_service.diff(plans)
        if not self.check_mode:
            self.object_service.apply(plans)
        removed = self.writer.remove()
        return {
            'changed': bool(plans or removed),
            'bundle_dir': self.writer.path,
            'objects': [plan.summary() for plan in plans],
            'kept_objects': kept,
            'changed_files': removed,
        }
