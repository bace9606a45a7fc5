# -*- coding: utf-8 -*-
# Copyright (c) meshbridge.istio_vm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The VM bundle on the controller: whether the bootstrap token must be reissued, the TokenRequest for a new one,
and writing (or removing) the files that differ, with their diff. The token's text never enters a diff."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import bootstrap_token, vm_bundle
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.bundle_dir import BundleDir

TOKEN_FILE = 'istio-token'


class BundleWriter:
    """The bundle of ``workload`` (a VmWorkload) in ``bundle_dir``, with tokens from the cluster behind ``kube``.
    ``diffs`` collects a diff entry per file that changes. Nothing is written in check mode; ``module`` (the
    AnsibleModule) writes the files."""

    def __init__(self, kube, workload, bundle_dir, check_mode=False, module=None):
        self.kube = kube
        self.workload = workload
        self.directory = BundleDir(bundle_dir, module)
        self.check_mode = check_mode
        self.diffs = []

    @property
    def path(self):
        return self.directory.path

    def file_paths(self):
        return dict((name, self.directory.file_path(name)) for name in vm_bundle.FILE_NAMES)

    def token_plan(self, renew_before, now):
        """The token in the bundle (None when there is none) and why it must be reissued (None: it stays)."""
        existing = self.directory.read(TOKEN_FILE)
        namespace, service_account = self.workload.namespace, self.workload.service_account
        reason = bootstrap_token.reissue_reason(existing, namespace, service_account, renew_before, now)
        if reason is None:
            # Its claims look right; only the cluster can say whether it still signs for them.
            reason = bootstrap_token.review_reason(self.kube.review_token(existing, [bootstrap_token.AUDIENCE]),
                                                   namespace, service_account)
        return existing, reason

    def issue_token(self, duration):
        """A TokenRequest for the group's service account, audience istio-ca, as istioctl makes it."""
        namespace, service_account = self.workload.namespace, self.workload.service_account
        body = {'apiVersion': 'authentication.k8s.io/v1', 'kind': 'TokenRequest',
                'spec': {'audiences': [bootstrap_token.AUDIENCE], 'expirationSeconds': duration}}
        return self.kube.request_token(namespace, service_account, body)['status']['token']

    def write(self, files, token_reissued):
        """Write the files (name -> text) that differ, or whose mode is not 0600, and make the directory 0700;
        returns the names written (``.`` when only the directory's mode changed)."""
        changed = [name for name in vm_bundle.FILE_NAMES
                   if (name == TOKEN_FILE and token_reissued) or self.directory.file_needs_change(name, files[name])]
        for name in changed:
            before = self.directory.read(name)
            if name == TOKEN_FILE:
                before = '' if before is None else '(previous token)\n'
                subject = bootstrap_token.subject(self.workload.namespace, self.workload.service_account)
                after = '(token for %s, audience %s)\n' % (subject, bootstrap_token.AUDIENCE)
            else:
                after = files[name]
            path = self.directory.file_path(name)
            self.diffs.append({'before_header': path, 'after_header': path, 'before': before or '', 'after': after})
        dir_changed = self.directory.dir_needs_change()
        if not self.check_mode and (changed or dir_changed):
            self.directory.ensure_dir()
            for name in changed:
                self.directory.write(name, files[name])
        if dir_changed and not changed:
            changed = ['.']
        return changed

    def remove(self):
        """Remove the bundle's files (and the directory, when nothing else is in it); returns the names removed."""
        names = self.directory.existing(vm_bundle.FILE_NAMES)
        for name in names:
            path = self.directory.file_path(name)
            before = '(token)\n' if name == TOKEN_FILE else self.directory.read(name)
            self.diffs.append({'before_header': path, 'after_header': path, 'before': before, 'after': ''})
        if not self.check_mode:
            self.directory.remove(vm_bundle.FILE_NAMES)
        return names
