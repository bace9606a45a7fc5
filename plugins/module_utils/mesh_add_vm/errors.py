# -*- coding: utf-8 -*-
# Copyright (c) meshbridge.istio_vm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The error mesh_add_vm's backend raises for a condition that stops it before (or instead of) a change."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

INSTALL_HINT = 'run meshbridge.istio_vm.istio_install first'


class MeshAddVmError(Exception):
    """A condition that stops mesh_add_vm before (or instead of) a change; the message says what to do."""
