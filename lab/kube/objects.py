"""The object verbs with the real server's semantics: create, get, list, update, patch (all four types), delete,
deletecollection, and the status subresource.

What each write does, in order: decode and check the body against the URL, check the namespace exists (and is not
terminating), validate (schema, then the semantic rules), default, keep what clients may not change (uid,
creationTimestamp, status through the main resource), bump generation on spec changes, record field ownership,
then store (unless ``dryRun=All``). An update that changes nothing stores nothing and keeps the resourceVersion.
"""

import copy
import datetime
import secrets
import uuid

import yaml

from lab.kube import apply, crd, defaults, errors, patching, semantic, validation
from lab.kube.listtypes import CoreListRules, SchemaListRules
from lab.kube.selectors import parse_field_selector, parse_label_selector

_NAMESPACE_KEY = ('', 'namespaces')
# The real server's namespace lifecycle admission refuses to delete these.
_UNDELETABLE_NAMESPACES = ('default', 'kube-system', 'kube-public')
# The letters the real server appends to a generateName (no vowels, no look-alikes).
_GENERATED_NAME_LETTERS = 'bcdfghjklmnpqrstvwxz2456789'
_BOOKKEEPING = ('resourceVersion', 'managedFields', 'generation')


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


class WriteOptions:
    """Per-request options of a write: who writes, dry run, field validation, apply's force."""

    def __init__(self, manager='unknown', dry_run=False, field_validation='Warn', force=False):
        self.manager = manager
        self.dry_run = dry_run
        self.field_validation = field_validation
        self.force = force


class ObjectApi:
    """The server's object verbs over ``storage``; ``registry`` learns the types of established CRDs."""

    def __init__(self, registry, storage, service_cidr):
        self.registry = registry
        self.storage = storage
        self.allocator = defaults.Allocator(service_cidr, lambda: self._all(('', 'services')))
        # Called with (event, rtype, obj) after each stored change; controllers hook in here.
        self.listeners = []

    # Reading.

    def _all(self, key):
        return self.storage.list(key)[0]

    def get(self, rtype, version, namespace, name):
        obj = self.storage.get(rtype.key, namespace if rtype.namespaced else '', name)
        if obj is None:
            raise errors.not_found(rtype, name)
        return self.present(rtype, version, obj)

    def find(self, rtype, namespace, name):
        """The stored object or None (for controllers and in-process callers)."""
        return self.storage.get(rtype.key, namespace if rtype.namespaced else '', name)

    def list(self, rtype, version, namespace=None, label_selector='', field_selector=''):
        matches = self.matcher(rtype, label_selector, field_selector)
        items, revision = self.storage.list(rtype.key, namespace if rtype.namespaced else None)
        return {'apiVersion': rtype.api_version(version), 'kind': rtype.kind + 'List',
                'metadata': {'resourceVersion': str(revision)},
                'items': [self.present(rtype, version, obj) for obj in items if matches(obj)]}

    @staticmethod
    def matcher(rtype, label_selector, field_selector):
        labels_match = parse_label_selector(label_selector)
        fields_match = parse_field_selector(field_selector, rtype.kind)
        return lambda obj: labels_match(obj['metadata'].get('labels')) and fields_match(obj)

    @staticmethod
    def present(rtype, version, obj):
        obj['apiVersion'] = rtype.api_version(version)
        obj['kind'] = rtype.kind
        return obj

    # Checks shared by the writes.

    @staticmethod
    def rules(rtype, version=None):
        if rtype.crd is not None:
            return SchemaListRules(crd.schema_for(rtype.crd, version or rtype.storage_version))
        return CoreListRules()

    def _decode(self, rtype, version, namespace, body, name=None):
        if not isinstance(body, dict):
            raise errors.bad_request('the body of the request could not be decoded as an object')
        expected = rtype.api_version(version)
        if body.get('apiVersion', expected) != expected or body.get('kind', rtype.kind) != rtype.kind:
            raise errors.bad_request('the API version in the data (%s) does not match the expected API version (%s)'
                                     % (body.get('apiVersion'), expected) if body.get('apiVersion') != expected else
                                     'the kind in the data (%s) does not match the expected kind (%s)'
                                     % (body.get('kind'), rtype.kind))
        obj = copy.deepcopy(body)
        obj['apiVersion'], obj['kind'] = expected, rtype.kind
        meta = obj.get('metadata')
        if meta is None:
            meta = obj['metadata'] = {}
        elif not isinstance(meta, dict):
            raise errors.bad_request('%s in version "%s" cannot be handled as a %s: json: cannot unmarshal %s into Go '
                                     'struct field .metadata of type v1.ObjectMeta'
                                     % (rtype.kind, version, rtype.kind, type(meta).__name__))
        if rtype.namespaced:
            if meta.get('namespace') and meta['namespace'] != namespace:
                raise errors.bad_request('the namespace of the provided object does not match the namespace sent on '
                                         'the request')
            meta['namespace'] = namespace
        else:
            meta.pop('namespace', None)
        if name is not None and meta.get('name', name) != name:
            raise errors.bad_request('the name of the object (%s) does not match the name on the URL (%s)'
                                     % (meta.get('name'), name))
        if name is not None:
            meta['name'] = name
        return obj

    def _require_namespace(self, rtype, namespace, name=''):
        if not rtype.namespaced:
            return
        found = self.storage.get(_NAMESPACE_KEY, '', namespace)
        if found is None:
            raise errors.ApiError(404, 'NotFound', 'namespaces "%s" not found' % namespace,
                                  {'name': namespace, 'kind': 'namespaces'})
        if found['metadata'].get('deletionTimestamp'):
            raise errors.forbidden('%s "%s" is forbidden: unable to create new content in namespace %s because it '
                                   'is being terminated' % (rtype.qualified_plural, name, namespace), rtype, name)

    def _validate(self, rtype, version, obj, old, options):
        if rtype.crd is not None:
            warnings = crd.check_custom_resource(rtype, version, obj, options.field_validation)
        else:
            warnings = validation.check_builtin(rtype, version, obj, options.field_validation)
        semantic.check(rtype, obj, old)
        if rtype.key == ('apiextensions.k8s.io', 'customresourcedefinitions'):
            crd.check_definition(obj)
        return warnings

    # Writes.

    def create(self, rtype, version, namespace, body, options, managers=None):
        """Create; returns (object, warnings). ``managers`` carries server-side apply's field ownership."""
        with self.storage.lock:
            obj = self._decode(rtype, version, namespace, body)
            meta = obj['metadata']
            if not meta.get('name') and meta.get('generateName'):
                meta['name'] = meta['generateName'] + ''.join(
                    map(secrets.choice, [_GENERATED_NAME_LETTERS] * 5))
            if not meta.get('name'):
                raise errors.invalid(rtype.kind, rtype.group, '', [errors.Cause(
                    errors.Cause.REQUIRED, 'metadata.name', 'Required value: name or generateName is required')])
            self._require_namespace(rtype, namespace, meta['name'])
            warnings = self._validate(rtype, version, obj, None, options)
            if self.storage.get(rtype.key, meta.get('namespace', ''), meta['name']) is not None:
                raise errors.already_exists(rtype, meta['name'])
            for field in ('uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'managedFields'):
                meta.pop(field, None)
            if 'status' in rtype.subresources:
                obj.pop('status', None)
            defaults.apply_defaults(rtype, obj, None, self.allocator)
            meta['uid'] = str(uuid.uuid4())
            meta['creationTimestamp'] = now_rfc3339()
            if rtype.has_generation:
                meta['generation'] = 1
            if rtype.key == ('apiextensions.k8s.io', 'customresourcedefinitions'):
                obj['status'] = crd.established_status(obj)
            if managers is None:
                managers = apply.FieldManagers([])
                managers.record_update(None, obj, options.manager, self.rules(rtype, version), obj['apiVersion'],
                                       meta['creationTimestamp'])
            meta['managedFields'] = managers.as_list()
            if options.dry_run:
                return self.present(rtype, version, obj), warnings
            stored = self._store(rtype, obj)
            return self.present(rtype, version, stored), warnings

    def update(self, rtype, version, namespace, name, body, options, subresource=''):
        """PUT; returns (object, warnings)."""
        with self.storage.lock:
            old = self._existing(rtype, namespace, name)
            obj = self._decode(rtype, version, namespace, body, name)
            wanted = obj['metadata'].get('resourceVersion')
            if wanted and wanted != old['metadata']['resourceVersion']:
                raise errors.conflict(rtype, name)
            return self._finish_update(rtype, version, old, obj, options, subresource)

    def patch(self, rtype, version, namespace, name, content_type, body, options, subresource=''):
        """PATCH of any type; returns (object, warnings). Apply patches create what does not exist."""
        with self.storage.lock:
            if content_type == patching.APPLY_PATCH:
                return self._apply(rtype, version, namespace, name, body, options, subresource)
            old = self._existing(rtype, namespace, name)
            current = self.present(rtype, version, copy.deepcopy(old))
            if content_type == patching.JSON_PATCH:
                patched = patching.apply_json_patch(current, body)
            elif content_type == patching.MERGE_PATCH:
                patched = patching.apply_merge_patch(current, body)
            elif content_type == patching.STRATEGIC_MERGE_PATCH and rtype.crd is None:
                patched = patching.apply_strategic_merge_patch(current, body, self.rules(rtype))
            else:
                raise errors.unsupported_media_type(content_type)
            if not isinstance(patched, dict):
                raise errors.bad_request('the patch did not result in an object')
            wanted = (patched.get('metadata') or {}).get('resourceVersion')
            if wanted and wanted != old['metadata']['resourceVersion']:
                raise errors.conflict(rtype, name)
            obj = self._decode(rtype, version, namespace, patched, name)
            return self._finish_update(rtype, version, old, obj, options, subresource)

    def _apply(self, rtype, version, namespace, name, body, options, subresource):
        if not options.manager:
            raise errors.bad_request('fieldManager is required for apply requests')
        try:
            applied = yaml.safe_load(body)
        except yaml.YAMLError as exc:
            raise errors.bad_request('error decoding YAML: %s' % exc) from None
        if not isinstance(applied, dict) or not applied.get('apiVersion') or not applied.get('kind'):
            raise errors.bad_request('invalid object type: %s, %s: apiVersion and kind must be set'
                                     % ((applied or {}).get('apiVersion', ''), (applied or {}).get('kind', ''))
                                     if isinstance(applied, dict) else 'the body of the request was in an unknown format')
        applied = self._decode(rtype, version, namespace, applied, name)
        rules = self.rules(rtype, version)
        old = self.storage.get(rtype.key, namespace if rtype.namespaced else '', name)
        stamp = now_rfc3339()
        if old is None:
            managers = apply.FieldManagers([])
            obj = managers.apply(None, applied, options.manager, options.force, rules, applied['apiVersion'], stamp, rtype)
            return self.create(rtype, version, namespace, obj, options, managers)
        wanted = applied['metadata'].get('resourceVersion')
        if wanted and wanted != old['metadata']['resourceVersion']:
            raise errors.conflict(rtype, name)
        live = self.present(rtype, version, copy.deepcopy(old))
        managers = apply.FieldManagers(old['metadata'].get('managedFields'))
        obj = managers.apply(live, applied, options.manager, options.force, rules, applied['apiVersion'], stamp, rtype)
        return self._finish_update(rtype, version, old, obj, options, subresource, managers)

    def _existing(self, rtype, namespace, name):
        old = self.storage.get(rtype.key, namespace if rtype.namespaced else '', name)
        if old is None:
            raise errors.not_found(rtype, name)
        return old

    def _finish_update(self, rtype, version, old, obj, options, subresource, managers=None):
        meta, old_meta = obj['metadata'], old['metadata']
        for field in ('uid', 'creationTimestamp', 'deletionTimestamp', 'generation'):
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        if subresource == 'status':
            status = obj.get('status')
            obj = copy.deepcopy(old)
            obj['apiVersion'], obj['kind'] = rtype.api_version(version), rtype.kind
            if status is None:
                obj.pop('status', None)
            else:
                obj['status'] = status
            meta = obj['metadata']
        elif 'status' in rtype.subresources:
            if 'status' in old:
                obj['status'] = copy.deepcopy(old['status'])
            else:
                obj.pop('status', None)
        warnings = self._validate(rtype, version, obj, old, options)
        defaults.apply_defaults(rtype, obj, old, self.allocator)
        if rtype.key == ('apiextensions.k8s.io', 'customresourcedefinitions'):
            obj['status'] = crd.established_status(obj)
        if rtype.has_generation and _spec_of(obj) != _spec_of(old):
            meta['generation'] = old_meta.get('generation', 1) + 1
        stamp = now_rfc3339()
        if managers is None:
            managers = apply.FieldManagers(old_meta.get('managedFields'))
            managers.record_update(_without_bookkeeping(old), obj, options.manager, self.rules(rtype, version),
                                   obj['apiVersion'], stamp, subresource)
        else:
            # Fields validation pruned are owned by nobody.
            present = apply.field_set(obj, self.rules(rtype, version))
            for entry in managers.entries.values():
                entry[2] &= present
        meta['managedFields'] = managers.as_list()
        meta['resourceVersion'] = old_meta['resourceVersion']
        if _same(obj, old):
            return self.present(rtype, version, old), warnings
        if options.dry_run:
            return self.present(rtype, version, obj), warnings
        if meta.get('deletionTimestamp') and not meta.get('finalizers'):
            removed = self._remove(rtype, obj['metadata'].get('namespace', ''), meta['name'])
            return self.present(rtype, version, removed), warnings
        stored = self._store(rtype, obj)
        return self.present(rtype, version, stored), warnings

    def _store(self, rtype, obj):
        stored = self.storage.put(rtype.key, obj)
        if rtype.key == ('apiextensions.k8s.io', 'customresourcedefinitions'):
            self.registry.add(crd.resource_type(stored))
        self._notify('stored', rtype, stored)
        return stored

    def _notify(self, event, rtype, obj):
        for listener in list(self.listeners):
            listener(event, rtype, obj)

    # Deletion.

    def delete(self, rtype, version, namespace, name, options, preconditions=None, propagation='Background'):
        """DELETE; returns the object as it was removed, or marked for deletion (finalizers, namespaces)."""
        with self.storage.lock:
            old = self._existing(rtype, namespace, name)
            meta = old['metadata']
            if rtype.key == _NAMESPACE_KEY and name in _UNDELETABLE_NAMESPACES:
                raise errors.forbidden('namespaces "%s" is forbidden: this namespace may not be deleted' % name,
                                       rtype, name)
            preconditions = preconditions or {}
            for field in ('uid', 'resourceVersion'):
                if preconditions.get(field) and preconditions[field] != meta.get(field):
                    raise errors.conflict(rtype, name, 'Precondition failed: %s in precondition: %s, %s in object '
                                          'meta: %s' % (field.upper() if field == 'uid' else field,
                                                        preconditions[field], field, meta.get(field)))
            if options.dry_run:
                return self.present(rtype, version, old)
            if meta.get('finalizers') or rtype.key == _NAMESPACE_KEY:
                if not meta.get('deletionTimestamp'):
                    meta['deletionTimestamp'] = now_rfc3339()
                    meta['deletionGracePeriodSeconds'] = 0
                    if rtype.key == _NAMESPACE_KEY:
                        old.setdefault('status', {})['phase'] = 'Terminating'
                    old = self._store(rtype, old)
                return self.present(rtype, version, old)
            removed = self._remove(rtype, namespace if rtype.namespaced else '', name, propagation)
            return self.present(rtype, version, removed)

    def delete_collection(self, rtype, version, namespace, options, label_selector='', field_selector=''):
        with self.storage.lock:
            listed = self.list(rtype, version, namespace, label_selector, field_selector)
            for item in listed['items']:
                self.delete(rtype, version, item['metadata'].get('namespace', ''), item['metadata']['name'], options)
            return listed

    def _remove(self, rtype, namespace, name, propagation='Background'):
        removed = self.storage.remove(rtype.key, namespace, name)
        if rtype.key == ('apiextensions.k8s.io', 'customresourcedefinitions'):
            gone = crd.resource_type(removed)
            for item in self._all(gone.key):
                self.storage.remove(gone.key, item['metadata'].get('namespace', ''), item['metadata']['name'])
            self.registry.remove(gone.key)
        if propagation != 'Orphan':
            self._collect_dependents(removed['metadata']['uid'])
        self._notify('removed', rtype, removed)
        return removed

    def _collect_dependents(self, owner_uid):
        """Garbage collection: delete what lists the removed object among its ownerReferences."""
        for rtype in self.registry.types():
            for item in self._all(rtype.key):
                owners = item['metadata'].get('ownerReferences') or []
                if any(owner.get('uid') == owner_uid for owner in owners):
                    self.delete(rtype, rtype.storage_version, item['metadata'].get('namespace', ''),
                                item['metadata']['name'], WriteOptions('garbage-collector'))

    def finish_namespace_deletion(self, name):
        """What the namespace controller does for a terminating namespace: delete its content, then the namespace."""
        with self.storage.lock:
            for rtype in self.registry.types():
                if rtype.namespaced:
                    for item in self.storage.list(rtype.key, name)[0]:
                        self.storage.remove(rtype.key, name, item['metadata']['name'])
                        self._notify('removed', rtype, item)
            if self.storage.get(_NAMESPACE_KEY, '', name) is not None:
                self._remove(self.registry.by_key('', 'namespaces'), '', name)


def _spec_of(obj):
    return {key: value for key, value in obj.items() if key not in ('metadata', 'status')}


def _without_bookkeeping(obj):
    trimmed = copy.deepcopy(obj)
    for field in _BOOKKEEPING:
        trimmed['metadata'].pop(field, None)
    return trimmed


def _same(new, old):
    """Whether an update changes nothing (managedFields timestamps aside)."""
    def comparable(obj):
        trimmed = copy.deepcopy(obj)
        trimmed.pop('apiVersion', None)
        trimmed.pop('kind', None)
        entries = trimmed['metadata'].pop('managedFields', None) or []
        owners = sorted((e['manager'], e['operation'], e.get('subresource', ''), repr(e.get('fieldsV1'))) for e in entries)
        return trimmed, owners
    return comparable(new) == comparable(old)
