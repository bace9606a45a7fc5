# -*- coding: utf-8 -*-
# Copyright (c) meshbridge.istio_vm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The controller directory that holds a VM bundle: owner-only (directory 0700, files 0600) because it holds the
bootstrap token; files replaced atomically so a reader never sees half a file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import os
import stat

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.atomic_file import write_file

DIR_MODE = 0o700
FILE_MODE = 0o600


class BundleDirError(Exception):
    """The OS refused an operation on the bundle directory; the message names bundle_dir and the fix."""


@contextlib.contextmanager
def _os_errors(path, doing):
    try:
        yield
    except OSError as error:
        raise BundleDirError('bundle_dir %s: cannot %s: %s; make bundle_dir a directory (or a place for one) that '
                             'the user running the module can write, or choose another bundle_dir'
                             % (path, doing, error)) from None


class BundleDir:
    """Every method raises BundleDirError, naming the directory, where the OS refuses (permissions, a file in the
    way, a full disk). ``module`` (the AnsibleModule) writes the files, with its atomic_move."""

    def __init__(self, path, module=None):
        self.path = path
        self.module = module

    def file_path(self, name):
        return os.path.join(self.path, name)

    def dir_needs_change(self):
        """Missing, or not 0700."""
        with _os_errors(self.path, 'read the directory'):
            try:
                return stat.S_IMODE(os.stat(self.path).st_mode) != DIR_MODE
            except FileNotFoundError:
                return True

    def read(self, name):
        """The file's text, or None when it does not exist."""
        with _os_errors(self.path, 'read %s' % name):
            try:
                with open(self.file_path(name), encoding='utf-8') as handle:
                    return handle.read()
            except FileNotFoundError:
                return None

    def file_needs_change(self, name, content):
        if self.read(name) != content:
            return True
        with _os_errors(self.path, 'read %s' % name):
            return stat.S_IMODE(os.stat(self.file_path(name)).st_mode) != FILE_MODE

    def ensure_dir(self):
        with _os_errors(self.path, 'create the directory'):
            os.makedirs(self.path, mode=DIR_MODE, exist_ok=True)
            os.chmod(self.path, DIR_MODE)

    def write(self, name, content):
        """Replace the file whole (the module's atomic_move), 0600 from its first byte."""
        with _os_errors(self.path, 'write %s' % name):
            write_file(self.module, self.file_path(name), content, FILE_MODE)

    def existing(self, names):
        return [name for name in names if os.path.exists(self.file_path(name))]

    def remove(self, names):
        """Remove the named files, then the directory if nothing else is left in it."""
        with _os_errors(self.path, 'remove the bundle'):
            for name in self.existing(names):
                os.unlink(self.file_path(name))
            if os.path.isdir(self.path) and not os.listdir(self.path):
                os.rmdir(self.path)
