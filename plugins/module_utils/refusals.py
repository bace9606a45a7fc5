# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The messages of the roles' validate entry points: for each setting, the first rule it breaks, as
``<setting>: <value> <rule broken>; <fix>``.

A check is ``{param, value, shape, rules}``: ``shape`` names a list of rules kept here (the shapes of GCP and
Kubernetes names that several roles check), ``rules`` are the role's own, each ``{ok, rule, fix}`` with ``ok``
already evaluated. The shape's rules come first, so a role's own rule is only reported for a well-formed value."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import json
import re

_LOWER_DIGITS_HYPHENS = re.compile(r'^[-a-z0-9]*$')
_REGION = re.compile(r'^[a-z]+-[a-z]+[0-9]+$')
_ZONE = re.compile(r'^[a-z]+-[a-z]+[0-9]+-[a-z]$')
_MACHINE_TYPE = re.compile(r'^[a-z0-9]+(-[a-z0-9]+)+$')


def _text(value):
    return value if isinstance(value, str) else ''


def _is_port(value):
    return not isinstance(value, bool) and re.match(r'^[0-9]+$', str(value)) is not None


def _cidr(value):
    try:
        ipaddress.ip_network(str(value), strict=True)
    except ValueError:
        return False
    return True


def _label_rules(kind, max_length, first, first_rule):
    """A name of lowercase letters, digits and hyphens (RFC 1035 for GCP, DNS-1123 for Kubernetes): each rule a
    (predicate, rule, fix) triple, in the order a reader fixes them."""
    return [
        (lambda value: isinstance(value, str) and value != '', 'is empty or not a string',
         'give a %s of 1-%d lowercase letters, digits and hyphens' % (kind, max_length)),
        (lambda value: len(value) <= max_length, 'is longer than %d characters' % max_length,
         'shorten it to %d at most' % max_length),
        (_LOWER_DIGITS_HYPHENS.match, 'has characters other than lowercase letters, digits and hyphens',
         'use only a-z, 0-9 and -'),
        (lambda value: re.match(first, value), 'does not start with %s' % first_rule, 'start it with %s' % first_rule),
        (lambda value: not value.endswith('-'), 'ends with a hyphen', 'end it with a letter or digit'),
    ]


def _zone_rules():
    return [
        (lambda value: isinstance(value, str) and value != '', 'is empty', 'give a zone such as us-west2-a'),
        # GKE takes a region as a cluster's location too: it then makes a regional cluster, whose node pools have
        # the node count in each of the region's zones, usually three.
        (lambda value: not _REGION.match(value), 'is a region, not a zone',
         "give one of its zones, such as {value}-a (as a GKE location a region makes a regional cluster, with the "
         "nodes in each of the region's zones: three times the nodes and their cost)"),
        (_ZONE.match, 'is not a zone (REGION-LETTER, such as us-west2-a)',
         'give a zone from `gcloud compute zones list`'),
    ]


SHAPES = {
    'gcp_name': _label_rules('name', 63, '[a-z]', 'a lowercase letter'),
    # GKE allows cluster names of 40 characters at most.
    'gke_cluster_name': _label_rules('cluster name', 40, '[a-z]', 'a lowercase letter'),
    'dns_label': _label_rules('DNS-1123 label', 63, '[a-z0-9]', 'a lowercase letter or digit'),
    'gcp_zone': _zone_rules(),
    # The rules of a project ID, as the Resource Manager states them.
    'gcp_project_id': [
        (lambda value: isinstance(value, str) and value != '', 'is empty', 'give the ID of your project'),
        (lambda value: 6 <= len(value) <= 30, 'is not 6-30 characters long',
         'give the project ID (`gcloud projects list`), not its name or number'),
        (_LOWER_DIGITS_HYPHENS.match, 'has characters other than lowercase letters, digits and hyphens',
         'give the project ID (`gcloud projects list`), not its name'),
        (lambda value: re.match('[a-z]', value), 'does not start with a lowercase letter',
         'give the project ID (`gcloud projects list`), not its number'),
        (lambda value: not value.endswith('-'), 'ends with a hyphen', 'give the project ID without the trailing hyphen'),
    ],
    'gcp_machine_type': [
        (lambda value: isinstance(value, str) and value != '', 'is empty',
         'give a machine type such as n1-standard-2 or e2-standard-2'),
        (_MACHINE_TYPE.match, 'is not a machine type (FAMILY-TYPE, such as n1-standard-2)',
         'give one from `gcloud compute machine-types list`'),
    ],
    'cidr': [
        (_cidr, 'is not a CIDR range without host bits', 'give a range such as 10.4.0.0/14'),
    ],
    'port': [
        (_is_port, 'is not a port number', 'give the TCP port the service listens on, 1-65535'),
        (lambda value: 1 <= int(value) <= 65535, 'is outside 1-65535', 'give the TCP port the service listens on, 1-65535'),
    ],
}


def _shape_rules(shape):
    if shape not in SHAPES:
        raise ValueError('unknown shape %r, known: %s' % (shape, ', '.join(sorted(SHAPES))))
    return SHAPES[shape]


def _overlaps(value, other):
    if not (_cidr(value) and _cidr(other)):
        return False
    ours, theirs = ipaddress.ip_network(str(value)), ipaddress.ip_network(str(other))
    return ours.version == theirs.version and ours.overlaps(theirs)


def first_broken_rule(value, shape=None, rules=None, apart_from=None):
    """The (rule, fix) of the first rule ``value`` breaks, or None: the shape's rules, then ``rules``, each
    ``{ok, rule, fix}``, then, for a range, that it overlaps none of ``apart_from`` (each ``{param, value}``). A
    shape's rule is only tried once the ones before it hold (a length is only measured on a string)."""
    for predicate, rule, fix in _shape_rules(shape) if shape else []:
        if not predicate(value):
            return rule, fix.replace('{value}', _text(value))
    for own in rules or []:
        if not own['ok']:
            return own['rule'], own['fix']
    for other in apart_from or []:
        if _overlaps(value, other['value']):
            return ('overlaps %s (%s)' % (other['param'], other['value']),
                    'give ranges that do not overlap, such as 10.4.0.0/14 and 10.8.0.0/20')
    return None


def show(value):
    """The value as the user wrote it, quoted when a string, so an empty one or one with spaces is seen."""
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def refusals(checks):
    """One message for each check whose value breaks a rule: ``<param>: <value> <rule>; <fix>``."""
    messages = []
    for check in checks:
        broken = first_broken_rule(check.get('value'), check.get('shape'), check.get('rules'), check.get('apart_from'))
        if broken:
            messages.append('%s: %s %s; %s' % (check['param'], show(check.get('value')), broken[0], broken[1]))
    return messages
