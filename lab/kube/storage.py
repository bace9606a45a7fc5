"""In-memory object storage with one resourceVersion counter and an event log for watches (what etcd is to the
real server). Objects are stored and handed out as deep copies; callers hold ``lock`` for read-modify-write."""

import collections
import copy
import threading

# How many past events a watch can resume from; an older resourceVersion gets 410 Expired, as from etcd compaction.
EVENT_HISTORY = 5000

# ``previous`` is the object before a MODIFIED event (watches with selectors need it), else None.
Event = collections.namedtuple('Event', 'resource_version type key object previous')


class Storage:
    """Objects by resource key ``(group, plural)`` and ``(namespace, name)``."""

    def __init__(self):
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self._objects = collections.defaultdict(dict)
        self._revision = 1
        self._events = collections.deque(maxlen=EVENT_HISTORY)
        self.closed = False

    @property
    def revision(self):
        return self._revision

    def get(self, key, namespace, name):
        with self.lock:
            found = self._objects[key].get((namespace or '', name))
            return copy.deepcopy(found)

    def list(self, key, namespace=None):
        """Every object of ``key`` (in ``namespace`` if given), and the revision the list reflects."""
        with self.lock:
            found = [copy.deepcopy(obj) for ident, obj in sorted(self._objects[key].items())
                     if namespace is None or ident[0] == namespace]
            return found, self._revision

    def keys(self):
        with self.lock:
            return [key for key, objects in self._objects.items() if objects]

    def put(self, key, obj):
        """Store ``obj`` with a new resourceVersion; returns the stored copy."""
        with self.lock:
            meta = obj['metadata']
            ident = (meta.get('namespace', ''), meta['name'])
            previous = self._objects[key].get(ident)
            self._revision += 1
            meta['resourceVersion'] = str(self._revision)
            self._objects[key][ident] = copy.deepcopy(obj)
            self._record('MODIFIED' if previous else 'ADDED', key, obj, previous)
            return copy.deepcopy(obj)

    def remove(self, key, namespace, name):
        with self.lock:
            obj = self._objects[key].pop((namespace or '', name))
            self._revision += 1
            obj['metadata']['resourceVersion'] = str(self._revision)
            self._record('DELETED', key, obj)
            return obj

    def _record(self, event_type, key, obj, previous=None):
        self._events.append(Event(self._revision, event_type, key, copy.deepcopy(obj), previous))
        self._changed.notify_all()

    def events_after(self, revision):
        """Events newer than ``revision``; None when the history no longer reaches back that far."""
        with self.lock:
            if revision < self._revision and (not self._events or self._events[0].resource_version > revision + 1):
                return None
            return [event for event in self._events if event.resource_version > revision]

    def wait_for_change(self, revision, timeout):
        """Block until the revision moves past ``revision``, the timeout passes or the storage closes."""
        with self.lock:
            self._changed.wait_for(lambda: self._revision > revision or self.closed, timeout)

    def close(self):
        with self.lock:
            self.closed = True
            self._changed.notify_all()

    def snapshot(self):
        with self.lock:
            return {'revision': self._revision,
                    'objects': [obj for objects in self._objects.values() for obj in objects.values()]}

    def restore(self, key_of, snapshot):
        """Load a ``snapshot()``; ``key_of(obj)`` gives an object's resource key (or None to drop it)."""
        with self.lock:
            for obj in snapshot['objects']:
                key = key_of(obj)
                if key:
                    self._objects[key][(obj['metadata'].get('namespace', ''), obj['metadata']['name'])] = obj
            self._revision = max(self._revision, snapshot['revision'])
