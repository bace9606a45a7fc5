# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of user input against the rules the APIs enforce, so bad input fails before any call is made."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import re

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import GcpInputError

# RFC 1035 labels: what compute and container accept for resource names and network tags.
_NAME = re.compile(r'^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$')
_LABEL_KEY = re.compile(r'^[a-z][a-z0-9_-]{0,62}$')
_LABEL_VALUE = re.compile(r'^[a-z0-9_-]{0,63}$')
_PORT_RANGE = re.compile(r'^(\d+)(?:-(\d+))?$')


# GKE's own limit on cluster and node pool names, shorter than RFC 1035's 63.
GKE_NAME_MAX = 40


def check_name(param, value, max_length=63, kind='name'):
    """An RFC 1035 name; ``max_length`` and ``kind`` (what the name names, for the message) where the API
    allows fewer than 63 characters."""
    if not _NAME.match(value or ''):
        raise GcpInputError("%s=%r is not a valid name: use 1-%d lowercase letters, digits and hyphens, "
                            "starting with a letter and not ending with a hyphen" % (param, value, max_length))
    if len(value) > max_length:
        raise GcpInputError('%s=%r is %d characters long: a %s has at most %d'
                            % (param, value, len(value), kind, max_length))
    return value


def check_cidr(param, value):
    try:
        network = ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        raise GcpInputError('%s=%r is not a CIDR range such as 10.4.0.0/14: %s' % (param, value, exc))
    return str(network)


def check_ports(param, ports):
    """Port numbers or ranges ("3550", "8000-8080") as the firewall API takes them."""
    for port in ports:
        match = _PORT_RANGE.match(str(port))
        low, high = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else (0, 0)
        if not match or not 0 < low <= high <= 65535:
            raise GcpInputError('%s contains %r: give a port 1-65535 or a range such as 8000-8080' % (param, port))
    return [str(port) for port in ports]


def check_labels(param, labels):
    for key, value in (labels or {}).items():
        if not _LABEL_KEY.match(key):
            raise GcpInputError('%s key %r is not a valid label key: lowercase letters, digits, _ and -, '
                                'starting with a letter, at most 63 characters' % (param, key))
        if not _LABEL_VALUE.match(str(value)):
            raise GcpInputError('%s[%s]=%r is not a valid label value: lowercase letters, digits, _ and -, '
                                'at most 63 characters' % (param, key, value))
    return dict((key, str(value)) for key, value in (labels or {}).items())


def check_tags(param, tags):
    for tag in tags:
        check_name('%s item' % param, tag)
    return sorted(set(tags))
