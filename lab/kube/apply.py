"""Field ownership: ``metadata.managedFields`` and server-side apply.

A field set is a set of paths; each path is a tuple of fieldsV1 tokens (``f:spec``, ``k:{"name":"app"}``,
``v:"value"``, ``.`` for a list item itself), so converting to and from ``fieldsV1`` is building or walking a trie.
What is simplified: ownership is tracked per leaf and per list item as the real server does, but without its
type-aware normalisation (e.g. an int-or-string field written once as 80 and once as "80" differs here).
"""

import copy
import json

from lab.kube import errors

# Fields nobody owns: identity and bookkeeping the server sets.
_UNOWNED_META = {'name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields',
                 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds'}
_MISSING = object()


def _key_token(item, keys):
    return 'k:' + json.dumps({k: item[k] for k in keys if k in item}, sort_keys=True, separators=(',', ':'))


def field_set(obj, rules, skip_status=False):
    """The set of field paths ``obj`` sets."""
    paths = set()
    for key, value in obj.items():
        if key in ('apiVersion', 'kind') or (skip_status and key == 'status'):
            continue
        if key == 'metadata':
            value = {k: v for k, v in (value or {}).items() if k not in _UNOWNED_META}
            if not value:
                continue
        _collect(value, ('f:' + key,), (key,), rules, paths)
    return paths


def _collect(value, tokens, names, rules, paths):
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _collect(child, tokens + ('f:' + key,), names + (key,), rules, paths)
    elif isinstance(value, list) and value:
        kind, keys = rules.list_type(names)
        if kind == 'map':
            for item in value:
                if not isinstance(item, dict):
                    paths.add(tokens)
                    continue
                item_tokens = tokens + (_key_token(item, keys),)
                paths.add(item_tokens + ('.',))
                for key, child in item.items():
                    _collect(child, item_tokens + ('f:' + key,), names + (key,), rules, paths)
        elif kind == 'set':
            for item in value:
                paths.add(tokens + ('v:' + json.dumps(item, sort_keys=True, separators=(',', ':')),))
        else:
            paths.add(tokens)
    else:
        paths.add(tokens)


def to_fields_v1(paths):
    trie = {}
    for path in sorted(paths):
        node = trie
        for token in path:
            node = node.setdefault(token, {})
    return trie


def from_fields_v1(fields, prefix=()):
    paths = set()
    for token, children in (fields or {}).items():
        if children:
            paths |= from_fields_v1(children, prefix + (token,))
        else:
            paths.add(prefix + (token,))
    return paths


def _step(value, token):
    """Follow one token from ``value``; _MISSING if it leads nowhere."""
    if token == '.':
        return value
    kind, rest = token[:1], token[2:]
    if kind == 'f':
        return value.get(rest, _MISSING) if isinstance(value, dict) else _MISSING
    if not isinstance(value, list):
        return _MISSING
    wanted = json.loads(rest)
    for item in value:
        if kind == 'k' and isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items()):
            return item
        if kind == 'v' and item == wanted:
            return item
    return _MISSING


def value_at(obj, path):
    value = obj
    for token in path:
        value = _step(value, token)
        if value is _MISSING:
            return _MISSING
    if path and path[-1] == '.':
        return True  # an item's own entry: present or not, its content is owned field by field
    return value


def remove_path(obj, path):
    """Remove the field or list item at ``path`` from ``obj`` (in place), if present."""
    if path and path[-1] == '.':
        path = path[:-1]
    parent = value_at(obj, path[:-1]) if len(path) > 1 else obj
    if parent is _MISSING or parent is True:
        return
    kind, rest = path[-1][:1], path[-1][2:]
    if kind == 'f' and isinstance(parent, dict):
        parent.pop(rest, None)
    elif isinstance(parent, list):
        target = _step(parent, path[-1])
        if target is not _MISSING:
            parent.remove(target)


def merge_applied(live, applied, rules, names=()):
    """Merge an applied configuration into the live object: maps by key, associative lists by item key, sets by
    value, atomic lists replaced."""
    if isinstance(applied, dict) and isinstance(live, dict):
        result = dict(live)
        for key, value in applied.items():
            result[key] = merge_applied(live.get(key), value, rules, names + (key,))
        return result
    if isinstance(applied, list) and isinstance(live, list):
        kind, keys = rules.list_type(names)
        if kind == 'set':
            return list(live) + [item for item in applied if item not in live]
        if kind == 'map':
            result = list(live)
            for item in applied:
                token = _key_token(item, keys) if isinstance(item, dict) else None
                existing = _step(result, token) if token else _MISSING
                if existing is _MISSING:
                    result.append(copy.deepcopy(item))
                else:
                    result[result.index(existing)] = merge_applied(existing, item, rules, names)
            return result
    return copy.deepcopy(applied)


def _format_token(token):
    """A path element as the real server prints it: ``.name``, ``[name="web"]``, ``[=value]``."""
    kind, rest = token[:1], token[2:]
    if kind == 'f':
        return '.' + rest
    if kind == 'k':
        return '[%s]' % ','.join('%s=%s' % (k, json.dumps(v)) for k, v in sorted(json.loads(rest).items()))
    if kind == 'v':
        return '[=%s]' % rest
    return ''


def _format_path(path):
    return ''.join(_format_token(token) for token in path)


class FieldManagers:
    """The managedFields of one object, as {(manager, operation, subresource): (apiVersion, time, paths)}."""

    def __init__(self, entries):
        self.entries = {}
        for entry in entries or []:
            ident = (entry.get('manager', ''), entry.get('operation', 'Update'), entry.get('subresource', ''))
            self.entries[ident] = [entry.get('apiVersion', ''), entry.get('time', ''),
                                   from_fields_v1(entry.get('fieldsV1'))]

    def as_list(self):
        result = []
        for (manager, operation, subresource), (api_version, time, paths) in self.entries.items():
            if not paths:
                continue
            entry = {'manager': manager, 'operation': operation, 'apiVersion': api_version, 'time': time,
                     'fieldsType': 'FieldsV1', 'fieldsV1': to_fields_v1(paths)}
            if subresource:
                entry['subresource'] = subresource
            result.append(entry)
        return result

    def record_update(self, old, new, manager, rules, api_version, now, subresource=''):
        """An update by ``manager``: it takes every field it changed; fields that disappeared leave every owner."""
        old = old or {}
        new_paths = field_set(new, rules)
        changed = {path for path in new_paths if value_at(old, path) != value_at(new, path)}
        for entry in self.entries.values():
            entry[2] = (entry[2] & new_paths) - changed
        ident = (manager, 'Update', subresource)
        previous = self.entries.get(ident, [None, None, set()])[2]
        if changed or previous:
            self.entries[ident] = [api_version, now, previous | changed]

    def apply(self, live, applied, manager, force, rules, api_version, now, rtype):
        """Server-side apply ``applied`` over ``live`` (None when creating); returns the new object."""
        ident = (manager, 'Apply', '')
        applied_paths = field_set(applied, rules)
        if live is not None:
            conflicts = []
            for other, entry in self.entries.items():
                if other == ident:
                    continue
                for path in sorted(applied_paths & entry[2]):
                    if value_at(live, path) != value_at(applied, path):
                        conflicts.append((other, entry, path))
            if conflicts and not force:
                raise _conflict_error(conflicts, rtype, applied['metadata']['name'])
            for conflict in conflicts:
                conflict[1][2].discard(conflict[2])
        previous = self.entries.get(ident, [None, None, set()])[2]
        result = merge_applied(copy.deepcopy(live) if live else {}, applied, rules)
        owned_by_others = set().union(*(entry[2] for other, entry in self.entries.items() if other != ident))
        for path in _removal_order(previous - applied_paths - owned_by_others):
            remove_path(result, path)
        self.entries[ident] = [api_version, now, applied_paths]
        return result


def _removal_order(paths):
    """Whole list items first (outermost first), so an item is found by its key before its fields go; then
    fields, innermost first."""
    items = sorted((p for p in paths if p[-1] == '.'), key=lambda p: (len(p), p))
    fields = sorted((p for p in paths if p[-1] != '.'), key=lambda p: (-len(p), p))
    return items + fields


def _conflict_error(conflicts, rtype, name):
    causes = [{'reason': 'FieldManagerConflict', 'message': 'conflict with "%s" using %s' % (other[0], entry[0]),
               'field': _format_path(path)} for other, entry, path in conflicts]
    lines = ['- %s: %s' % (cause['message'], cause['field']) for cause in causes]
    if len(conflicts) == 1:
        message = 'Apply failed with 1 conflict: %s: %s' % (causes[0]['message'], causes[0]['field'])
    else:
        message = 'Apply failed with %d conflicts: %s' % (len(conflicts), '\n'.join([''] + lines))
    details = {'name': name, 'kind': rtype.plural, 'causes': causes}
    if rtype.group:
        details['group'] = rtype.group
    return errors.ApiError(409, 'Conflict', message, details)
