# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Comparison of the fields a module manages: the desired view (from parameters) against the current one
(from the API), both already normalized to the same shape by the resource class."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


def changed_fields(desired, current):
    """Names of the fields whose desired value differs from the current one, sorted. A field absent from
    ``desired`` is not managed and never counts."""
    return sorted(key for key in desired if desired[key] != current.get(key))


def ansible_diff(before, after):
    """The ``diff`` entry of a module result: only the managed fields, so unrelated API output is not shown."""
    return {'before': before or {}, 'after': after or {}}
