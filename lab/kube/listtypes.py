"""How each list in an object merges: by key (associative), as a set, or replaced whole (atomic).

Strategic merge patch and server-side apply both need this. Built-in kinds carry it in their Go struct tags
(``patchMergeKey``, ``listType``/``listMapKeys``); custom resources in their schema
(``x-kubernetes-list-type``, ``x-kubernetes-list-map-keys``). Paths are tuples of field names (list items add none).
"""

ATOMIC = ('atomic', ())
SET = ('set', ())

# Field name -> merge keys, for the built-in kinds this server serves. Server-side apply keys container ports by
# (containerPort, protocol) and service ports by (port, protocol); strategic merge only by the first key.
_KEYED_FIELDS = {
    'containers': ('name',), 'initContainers': ('name',), 'ephemeralContainers': ('name',),
    'env': ('name',), 'volumes': ('name',), 'volumeMounts': ('mountPath',), 'volumeDevices': ('devicePath',),
    'imagePullSecrets': ('name',), 'conditions': ('type',), 'ownerReferences': ('uid',), 'hostAliases': ('ip',),
    'secrets': ('name',), 'topologySpreadConstraints': ('topologyKey', 'whenUnsatisfiable'), 'webhooks': ('name',),
}
_SET_FIELDS = {'finalizers'}


def _core_rule(path):
    field = path[-1] if path else ''
    if field == 'ports':
        parent = path[-2] if len(path) > 1 else ''
        if parent in ('containers', 'initContainers', 'ephemeralContainers'):
            return ('map', ('containerPort', 'protocol'))
        if parent == 'spec':
            return ('map', ('port', 'protocol'))
        return ATOMIC
    if field in _KEYED_FIELDS:
        return ('map', _KEYED_FIELDS[field])
    if field in _SET_FIELDS:
        return SET
    return ATOMIC


class CoreListRules:
    """List semantics of the built-in kinds."""

    def list_type(self, path):
        return _core_rule(path)

    def strategic_key(self, path):
        """The ``patchMergeKey`` of a list, '' for a merged list of scalars, None for a replaced list."""
        kind, keys = _core_rule(path)
        if kind == 'map':
            return keys[0]
        if kind == 'set':
            return ''
        return None


class SchemaListRules:
    """List semantics read from a custom resource's openAPIV3Schema; metadata follows the built-in rules."""

    def __init__(self, schema):
        self.schema = schema or {}

    def list_type(self, path):
        if path and path[0] == 'metadata':
            return _core_rule(path)
        node = self.schema
        for field in path:
            while node.get('type') == 'array':
                node = node.get('items', {})
            props = node.get('properties', {})
            if field in props:
                node = props[field]
            elif isinstance(node.get('additionalProperties'), dict):
                node = node['additionalProperties']
            else:
                return ATOMIC
        list_type = node.get('x-kubernetes-list-type', 'atomic')
        if list_type == 'map':
            return ('map', tuple(node.get('x-kubernetes-list-map-keys', ())))
        if list_type == 'set':
            return SET
        return ATOMIC

    def strategic_key(self, path):  # custom resources do not take strategic merge patches; see patching.py
        raise NotImplementedError(path)
