# -*- coding: utf-8 -*-
# Copyright (c) meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durations written the way Istio writes them (``24h``, ``90m``) plus days and weeks (``3650d``, ``1d12h``)."""

from __future__ import annotations

import datetime
import re

_UNIT_SECONDS = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800}
_PART = re.compile(r'(\d+)([smhdw])')
_WHOLE = re.compile(r'^-?(\d+[smhdw])+$')


class DurationTooLong(ValueError):
    """A duration longer than ``datetime.timedelta`` holds (999999999 days)."""


def parse_duration(text):
    """A ``datetime.timedelta`` from ``text`` such as ``24h``, ``1d12h`` or ``-5m``; ValueError if malformed.

    The sign is kept so that callers can reject non-positive values with their own message.
    """
    text = str(text).strip()
    if not _WHOLE.match(text):
        raise ValueError("%r is not a duration; use a number with a unit s, m, h, d or w, such as 24h, 90d or 1d12h"
                         % text)
    seconds = sum(int(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(text))
    try:
        return datetime.timedelta(seconds=-seconds if text.startswith('-') else seconds)
    except OverflowError:
        raise DurationTooLong('%r is too long: at most %dd' % (text, datetime.timedelta.max.days)) from None


def format_duration(delta):
    """``delta`` in the largest whole units, the inverse of ``parse_duration`` (``1d12h``, ``0s``)."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return '0s'
    sign, seconds = ('-', -seconds) if seconds < 0 else ('', seconds)
    parts = []
    for unit in ('d', 'h', 'm', 's'):
        count, seconds = divmod(seconds, _UNIT_SECONDS[unit])
        if count:
            parts.append('%d%s' % (count, unit))
    return sign + ''.join(parts)
