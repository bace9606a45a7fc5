# -*- coding: utf-8 -*-
# Copyright (c) meshbridge.istio_vm contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""YAML text as istioctl writes it (sigs.k8s.io/yaml over go-yaml v2), so that a bundle file we render is
byte-for-byte what ``istioctl x workload entry configure`` writes for the same inputs.

Two things differ from PyYAML's defaults and matter for that: the order of mapping keys (go-yaml sorts with a
"natural" order where non-letters come before letters and digit runs compare as numbers) and which strings are
quoted (go-yaml double-quotes a string that would read back as another type under its own YAML 1.1 rules, and
lets the emitter fall back to single quotes when a plain scalar is not allowed).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import decimal
import functools
import math
import re
import traceback

try:
    import yaml
except ImportError:
    HAS_YAML = False
    YAML_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_YAML = True
    YAML_IMPORT_ERROR = None

_STR_TAG = 'tag:yaml.org,2002:str'
_INT_TAG = 'tag:yaml.org,2002:int'
_FLOAT_TAG = 'tag:yaml.org,2002:float'
_BOOL_TAG = 'tag:yaml.org,2002:bool'
_MAP_TAG = 'tag:yaml.org,2002:map'
_SEQ_TAG = 'tag:yaml.org,2002:seq'

# go-yaml v2 resolve(): words that read back as bool, null or special floats.
_GO_YAML_KEYWORDS = frozenset([
    'y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON',
    'n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF',
    '', '~', 'null', 'Null', 'NULL',
    '.nan', '.NaN', '.NAN', '.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF', '-.inf', '-.Inf', '-.INF', '<<',
])
# Go's strconv.ParseInt/ParseUint with base 0 (after go-yaml drops underscores), and go-yaml's "0b" forms.
_GO_INT = re.compile(r'^[-+]?(0[xX][0-9a-fA-F]+|0[oO]?[0-7]*|0[bB][01]+|[1-9][0-9]*)$')
_GO_YAML_FLOAT = re.compile(r'^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$')
# Go's ParseFloat also takes these when the string starts with '.'.
_GO_DOT_FLOAT = re.compile(r'^\.[0-9]+([eE][-+]?[0-9]+)?$')
# go-yaml's timestamp formats: 2006-1-2, optionally followed by a time ("T", "t" or spaces).
_GO_TIMESTAMP = re.compile(
    r'^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}'
    r'(([Tt]|[ \t]+)[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]*)?([ \t]*(Z|[-+][0-9]{1,2}(:[0-9]{2})?))?)?$')
_GO_BASE60_FLOAT = re.compile(r'^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$')


def _reads_back_as_non_string(text):
    """True when go-yaml would not write ``text`` as a plain scalar because it would resolve to another type."""
    if text in _GO_YAML_KEYWORDS:
        return True
    first = text[0]
    if first == '.':
        return bool(_GO_DOT_FLOAT.match(text))
    if not (first.isdigit() or first in '+-'):
        return False
    if _GO_TIMESTAMP.match(text) or _GO_BASE60_FLOAT.match(text):
        return True
    plain = text.replace('_', '')
    return bool(_GO_INT.match(plain) or _GO_YAML_FLOAT.match(plain))


def _go_key_less(left, right):
    """go-yaml v2's order for string map keys (sorter.go, keyList.Less)."""
    for index, (a_char, b_char) in enumerate(zip(left, right)):
        if a_char == b_char:
            continue
        a_letter, b_letter = a_char.isalpha(), b_char.isalpha()
        if a_letter and b_letter:
            return a_char < b_char
        if a_letter or b_letter:
            return b_letter
        a_number = b_number = 0
        if a_char == '0' or b_char == '0':
            # A run of digits that started before this position with a non-zero digit: both sides are numbers.
            for back in range(index - 1, -1, -1):
                if not left[back].isdigit():
                    break
                if left[back] != '0':
                    a_number = b_number = 1
                    break
        a_end = index
        while a_end < len(left) and left[a_end].isdigit():
            a_number = a_number * 10 + int(left[a_end])
            a_end += 1
        b_end = index
        while b_end < len(right) and right[b_end].isdigit():
            b_number = b_number * 10 + int(right[b_end])
            b_end += 1
        if a_number != b_number:
            return a_number < b_number
        if a_end != b_end:
            return a_end < b_end
        return a_char < b_char
    return len(left) < len(right)


def _compare_keys(first, second):
    if _go_key_less(first, second):
        return -1
    if _go_key_less(second, first):  # pylint: disable=arguments-out-of-order
        return 1
    return 0


def sorted_keys(mapping):
    """The keys of ``mapping`` in the order go-yaml writes them."""
    return sorted(mapping, key=functools.cmp_to_key(_compare_keys))


def go_float(value):
    """A float as Go's strconv.FormatFloat(value, 'g', -1, 64) writes it, as go-yaml does: the shortest digits that
    read back as the same float (Python's repr finds the same digits), in exponent form ("1.5e+06", two exponent
    digits at least) when the exponent is below -4 or 6 and up."""
    if math.isnan(value):
        return '.nan'
    if math.isinf(value):
        return '.inf' if value > 0 else '-.inf'
    sign, digit_tuple, exponent = decimal.Decimal(repr(value)).as_tuple()
    digits = ''.join(str(digit) for digit in digit_tuple).lstrip('0')
    if not digits:
        return '-0' if sign else '0'
    point = len(digits) + exponent  # where the decimal point goes, counted from the first significant digit
    digits = digits.rstrip('0')
    text = '-' if sign else ''
    power = point - 1
    if power < -4 or power >= 6:
        mantissa = digits[0] + ('.' + digits[1:] if len(digits) > 1 else '')
        return '%s%se%s%02d' % (text, mantissa, '-' if power < 0 else '+', abs(power))
    if point <= 0:
        return text + '0.' + '0' * -point + digits
    if point >= len(digits):
        return text + digits + '0' * (point - len(digits))
    return text + digits[:point] + '.' + digits[point:]


def _scalar_node(value):
    if isinstance(value, bool):
        return yaml.ScalarNode(_BOOL_TAG, 'true' if value else 'false')
    if isinstance(value, int):
        return yaml.ScalarNode(_INT_TAG, str(value))
    if isinstance(value, float):
        text = go_float(value)
        # "1" reads back as an integer; go-yaml writes it so all the same.
        return yaml.ScalarNode(_INT_TAG if text.lstrip('-').isdigit() else _FLOAT_TAG, text)
    text = str(value)
    if '\n' in text:
        style = '|'
    elif _reads_back_as_non_string(text):
        style = '"'
    else:
        style = None  # plain when the emitter allows it, else single-quoted, as go-yaml's emitter does
    return yaml.ScalarNode(_STR_TAG, text, style=style)


def _node(value):
    if isinstance(value, dict):
        return yaml.MappingNode(_MAP_TAG, [(_scalar_node(key), _node(value[key])) for key in sorted_keys(value)])
    if isinstance(value, (list, tuple)):
        return yaml.SequenceNode(_SEQ_TAG, [_node(item) for item in value])
    return _scalar_node(value)


if HAS_YAML:
    class _GoStyleDumper(yaml.SafeDumper):  # pylint: disable=too-many-ancestors
        """Resolves nothing implicitly but booleans and integers, so a string's style is ours alone to choose."""

        yaml_implicit_resolvers = {}

    _GoStyleDumper.add_implicit_resolver(_BOOL_TAG, re.compile(r'^(?:true|false)$'), list('tf'))
    _GoStyleDumper.add_implicit_resolver(_INT_TAG, re.compile(r'^-?[0-9]+$'), list('-0123456789'))
    _GoStyleDumper.add_implicit_resolver(
        _FLOAT_TAG, re.compile(r'^-?(?:[0-9]+(?:\.[0-9]+)?(?:e[-+][0-9]+)?|\.nan|\.inf)$'), list('-0123456789.'))


def dump(document):
    """YAML text for ``document`` (dicts, lists, strings, integers, booleans) in istioctl's style."""
    return yaml.serialize(_node(document), Dumper=_GoStyleDumper, allow_unicode=True, width=80, indent=2)
