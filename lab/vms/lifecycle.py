"""Bringing the lab's network and VM host up and down, for ``lab up`` / ``lab down``."""

import os
import shutil

from lab.net.names import LabNames
from lab.net.vpc import Vpc
from lab.vms.base_root import BaseRoot
from lab.vms.cleanup import cleanup
from lab.vms.fleet import Fleet


def up(state_dir, prefix='mbl-', isolated_controller=False, base_root=None):
    """Create the VPC and controller link, make sure the base root is cached and unpacked; return the Fleet."""
    os.makedirs(state_dir, exist_ok=True)
    base_root = base_root or BaseRoot()
    base_root.ensure_unpacked()
    vpc = Vpc(LabNames(prefix), isolated_controller=isolated_controller)
    if not vpc.exists:
        vpc.create()
    return Fleet(vpc, state_dir, base_root)


def down(state_dir, prefix='mbl-'):
    """Stop and remove every VM, namespace, link and mount of the lab, then its state directory."""
    cleanup(prefix, state_dir)
    shutil.rmtree(state_dir, ignore_errors=True)
