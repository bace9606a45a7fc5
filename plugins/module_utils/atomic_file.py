# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replace a file whole, through AnsibleModule.atomic_move, never wider than 0600 before it has its mode."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import tempfile


def write_file(module, path, data, mode):
    """Replace ``path`` with ``data`` (bytes or text, UTF-8) and give it ``mode``; a reader sees the old file or the
    new one, never half of one.

    The temporary file is made in ``path``'s directory (mkstemp: 0600), so the move is a rename on one file
    system. atomic_move keeps no attribute of the file it replaces (which could be wider than ``mode``) and gives a
    file it creates the umask's mode: the umask is 077 meanwhile, so a key is never readable by others, not even
    for an instant. ``mode`` is set last."""
    directory, name = os.path.split(path)
    descriptor, temporary = tempfile.mkstemp(dir=directory or '.', prefix='.%s.' % name)
    try:
        with os.fdopen(descriptor, 'wb') as handle:
            handle.write(data.encode('utf-8') if not isinstance(data, bytes) else data)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0o077)
        try:
            module.atomic_move(temporary, path, keep_dest_attrs=False)
        finally:
            os.umask(umask)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    os.chmod(path, mode)
