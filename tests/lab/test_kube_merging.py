"""Strategic merge patch directives and server-side apply list semantics, on plain objects."""

import pytest

from lab.kube import apply, errors, resources
from lab.kube.listtypes import CoreListRules, SchemaListRules
from lab.kube.patching import strategic_merge

POD_SPEC = {'containers': [{'name': 'a', 'image': 'a:1', 'env': [{'name': 'X', 'value': '1'}]},
                           {'name': 'b', 'image': 'b:1'}],
            'volumes': [{'name': 'v1', 'emptyDir': {}}, {'name': 'v2', 'emptyDir': {}}]}


def _template(spec):
    return {'spec': {'template': {'spec': spec}}}


def test_strategic_merge_directives():
    patch = _template({'containers': [{'name': 'b', '$patch': 'delete'}, {'name': 'c', 'image': 'c:1'}],
                       '$setElementOrder/containers': [{'name': 'c'}, {'name': 'a'}],
                       'volumes': [{'$patch': 'replace'}, {'name': 'v3', 'emptyDir': {}}]})
    merged = strategic_merge(_template(POD_SPEC), patch, CoreListRules())['spec']['template']['spec']
    assert [c['name'] for c in merged['containers']] == ['c', 'a']
    assert merged['containers'][1]['env'] == [{'name': 'X', 'value': '1'}]
    assert merged['volumes'] == [{'name': 'v3', 'emptyDir': {}}]
    assert not any(key.startswith('$') for key in merged)


def test_strategic_merge_deletes_keys_and_merges_finalizers_as_a_set():
    obj = {'metadata': {'labels': {'a': '1', 'b': '2'}, 'finalizers': ['x']}}
    merged = strategic_merge(obj, {'metadata': {'labels': {'a': None}, 'finalizers': ['y', 'x']}}, CoreListRules())
    assert merged['metadata'] == {'labels': {'b': '2'}, 'finalizers': ['x', 'y']}


def _custom_type():
    schema = {'type': 'object', 'properties': {'spec': {'type': 'object', 'properties': {
        'servers': {'type': 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['port'],
                    'items': {'type': 'object'}},
        'hosts': {'type': 'array', 'x-kubernetes-list-type': 'set', 'items': {'type': 'string'}},
        'args': {'type': 'array', 'items': {'type': 'string'}}}}}}
    crd = {'spec': {'versions': [{'name': 'v1', 'schema': {'openAPIV3Schema': schema}}]}}
    return resources.ResourceType('lab.example', ['v1'], 'gateways', 'Gateway', True, crd=crd), \
        SchemaListRules(schema)


def test_apply_merges_map_lists_by_key_and_replaces_atomic_lists():
    rtype, rules = _custom_type()
    live = {'metadata': {'name': 'g'},
            'spec': {'servers': [{'port': 80, 'name': 'http'}], 'hosts': ['a'], 'args': ['x', 'y']}}
    owners = apply.FieldManagers([])
    owners.record_update(None, live, 'creator', rules, 'lab.example/v1', 'now')
    applied = {'metadata': {'name': 'g'}, 'spec': {'servers': [{'port': 443, 'name': 'https'}], 'hosts': ['b']}}
    result = owners.apply(live, applied, 'installer', False, rules, 'lab.example/v1', 'now', rtype)
    assert [s['port'] for s in result['spec']['servers']] == [80, 443]
    assert result['spec']['hosts'] == ['a', 'b']
    assert result['spec']['args'] == ['x', 'y']
    fields = {entry['manager']: entry['fieldsV1'] for entry in owners.as_list()}
    assert fields['installer']['f:spec']['f:servers'] == {'k:{"port":443}': {'.': {}, 'f:name': {}, 'f:port': {}}}
    assert fields['installer']['f:spec']['f:hosts'] == {'v:"b"': {}}

    applied_args = {'metadata': {'name': 'g'}, 'spec': {'args': ['z']}}
    with pytest.raises(errors.ApiError) as conflict:
        owners.apply(result, applied_args, 'installer', False, rules, 'lab.example/v1', 'now', rtype)
    assert conflict.value.code == 409 and 'conflict with "creator"' in conflict.value.message
    forced = owners.apply(result, applied_args, 'installer', True, rules, 'lab.example/v1', 'now', rtype)
    assert forced['spec']['args'] == ['z']
    # installer stopped applying its server and host: they go; creator's stay.
    assert [s['port'] for s in forced['spec']['servers']] == [80] and forced['spec']['hosts'] == ['a']
