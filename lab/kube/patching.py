"""The PATCH body types: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch.

Server-side apply (``application/apply-patch+yaml``) lives in ``apply.py``.
"""

import copy
import json

import jsonpatch

from lab.kube import errors

JSON_PATCH = 'application/json-patch+json'
MERGE_PATCH = 'application/merge-patch+json'
STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json'
APPLY_PATCH = 'application/apply-patch+yaml'
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)


def apply_json_patch(obj, body):
    try:
        operations = json.loads(body)
    except ValueError as exc:
        raise errors.bad_request('error decoding patch: %s' % exc) from None
    if not isinstance(operations, list):
        raise errors.bad_request('json: cannot unmarshal object into Go value of type jsonpatch.Patch')
    try:
        return jsonpatch.apply_patch(obj, operations)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        # The real server answers a patch that does not apply with 422 and the patch library's message.
        raise errors.ApiError(422, 'Invalid', str(exc)) from None


def _decode_object_patch(body):
    try:
        patch = json.loads(body)
    except ValueError as exc:
        raise errors.bad_request('error decoding patch: %s' % exc) from None
    if not isinstance(patch, dict):
        raise errors.bad_request('json: cannot unmarshal %s into Go value of type map[string]interface {}'
                                 % type(patch).__name__)
    return patch


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def apply_merge_patch(obj, body):
    return merge_patch(obj, _decode_object_patch(body))


def apply_strategic_merge_patch(obj, body, rules):
    return strategic_merge(obj, _decode_object_patch(body), rules)


def _item_key(item, key):
    return item.get(key) if isinstance(item, dict) else item


def _reorder(items, order, key):
    wanted = [_item_key(entry, key) for entry in order]
    listed = [item for name in wanted for item in items if _item_key(item, key) == name]
    return listed + [item for item in items if _item_key(item, key) not in wanted]


def strategic_merge(original, patch, rules, path=()):
    """Merge ``patch`` into ``original`` the way the real server merges built-in kinds: maps recursively, lists
    with a merge key item by item, ``$patch``/``$setElementOrder``/``$deleteFromPrimitiveList``/``$retainKeys``
    directives honoured."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get('$patch') == 'replace':
        return strategic_merge({}, {k: v for k, v in patch.items() if k != '$patch'}, rules, path)
    result = dict(original) if isinstance(original, dict) else {}
    orders = {}
    for key, value in patch.items():
        if key in ('$patch', '$retainKeys'):
            continue
        if key.startswith('$setElementOrder/'):
            orders[key.split('/', 1)[1]] = value
            continue
        if key.startswith('$deleteFromPrimitiveList/'):
            field = key.split('/', 1)[1]
            result[field] = [item for item in result.get(field) or [] if item not in value]
            continue
        child = path + (key,)
        if value is None or (isinstance(value, dict) and value.get('$patch') == 'delete'):
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = strategic_merge(result.get(key), value, rules, child)
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, rules, child)
        else:
            result[key] = value
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _reorder(result[field], order, rules.strategic_key(path + (field,)))
    if '$retainKeys' in patch:
        result = {key: value for key, value in result.items() if key in patch['$retainKeys']}
    return result


def _strip_directives(value, rules, path):
    if isinstance(value, dict):
        return strategic_merge({}, value, rules, path)
    return value


def _merge_list(original, patch, rules, path):
    key = rules.strategic_key(path)
    if any(isinstance(item, dict) and item.get('$patch') == 'replace' for item in patch):
        return [_strip_directives(item, rules, path) for item in patch
                if not (isinstance(item, dict) and item.get('$patch') == 'replace')]
    if key is None or not isinstance(original, list):
        return [_strip_directives(item, rules, path) for item in patch
                if not (isinstance(item, dict) and item.get('$patch') == 'delete')]
    result = list(original)
    if key == '':
        return result + [item for item in patch if item not in result]
    for item in patch:
        if not isinstance(item, dict):
            raise errors.bad_request('unable to find api field in struct for the patch element: %r' % (item,))
        matches = [i for i, existing in enumerate(result) if isinstance(existing, dict) and existing.get(key) == item.get(key)]
        if item.get('$patch') == 'delete':
            result = [existing for i, existing in enumerate(result) if i not in matches]
        elif matches:
            result[matches[0]] = strategic_merge(result[matches[0]], item, rules, path)
        else:
            result.append(strategic_merge({}, item, rules, path))
    return result
