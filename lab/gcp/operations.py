"""Long-running operations on a latency profile, and injectable faults.

Durations are what the real services take (GKE cluster create ~5.5 min, instance insert ~20 s, ...), multiplied
by a time scale (``MESHBRIDGE_LAB_TIME_SCALE``, e.g. 0.01 for tests). An operation is PENDING for the first tenth
of its time, RUNNING until its time is up, then its work runs (state change, backend hook) and it is DONE, with
``error`` set if the work failed or a failure was injected for it.
"""

import datetime
import logging
import os
import random
import threading
import time

from lab.gcp.errors import ApiError

LOG = logging.getLogger('lab.gcp.operations')

# Real-world seconds, by operation type (compute: the method's verb; container: Operation.operationType).
REAL_DURATIONS = {
    'CREATE_CLUSTER': 330.0,
    'DELETE_CLUSTER': 180.0,
    'UPDATE_CLUSTER': 60.0,
    'CREATE_NODE_POOL': 90.0,
    'DELETE_NODE_POOL': 60.0,
    'SET_LABELS': 5.0,
    'SET_NODE_POOL_SIZE': 60.0,
    # GKE's own operations (auto-upgrades, repairs): a node pool's surge upgrade takes minutes per node.
    'UPGRADE_NODES': 240.0,
    'UPGRADE_MASTER': 300.0,
    'REPAIR_CLUSTER': 120.0,
    'insert.instance': 20.0,
    'delete.instance': 30.0,
    'start.instance': 15.0,
    'stop.instance': 30.0,
    'insert.firewall': 10.0,
    'patch.firewall': 10.0,
    'update.firewall': 10.0,
    'delete.firewall': 10.0,
    'setCommonInstanceMetadata.project': 5.0,
}
_DEFAULT_DURATION = 5.0


def _env_float(name, default):
    value = os.environ.get(name)
    return float(value) if value else default


def _env_quotas(name):
    """``{metric: limit}`` from ``METRIC=LIMIT,...`` (e.g. ``SSD_TOTAL_GB=500,CPUS=24``)."""
    quotas = {}
    for item in (os.environ.get(name) or '').split(','):
        if item.strip():
            metric, _sep, limit = item.partition('=')
            quotas[metric.strip()] = float(limit)
    return quotas


# Regional quota limits of the lab's project: those of a project whose quotas were raised for a GKE cluster,
# so that site.yml's defaults (five n1-standard-2 nodes with 100 GB pd-balanced disks, a VM) fit. A new project
# often has less: 500 GB SSD_TOTAL_GB, 8-24 CPUS, 4-8 IN_USE_ADDRESSES per region; set MESHBRIDGE_LAB_QUOTAS to
# play one (e.g. SSD_TOTAL_GB=500).
DEFAULT_QUOTAS = {
    'CPUS': 72.0, 'N2_CPUS': 72.0, 'N2D_CPUS': 72.0, 'C2_CPUS': 72.0, 'C2D_CPUS': 72.0, 'E2_CPUS': 72.0,
    'SSD_TOTAL_GB': 2048.0, 'DISKS_TOTAL_GB': 4096.0, 'IN_USE_ADDRESSES': 32.0, 'INSTANCES': 300.0,
}


class Settings:
    """Time scale, fault rates, quotas and the project-level behaviours a real project may have; defaults from
    ``MESHBRIDGE_LAB_*`` environment variables. Every default leaves the normal lab run (``make lab``) working.

    - ``rate_429``, ``rate_503``: the share of requests a busy front end refuses (both APIs).
    - ``rate_403``: the share of compute requests refused with Compute Engine's rate-limit answer, 403
      ``rateLimitExceeded`` (https://cloud.google.com/compute/api-quota: "If your project exceeds a rate quota,
      you receive a 403 error with the reason rateLimitExceeded"); GKE answers 429 instead.
    - ``gke_operation_after_create``: an operation type (``UPGRADE_NODES``, ``UPGRADE_MASTER``, ...) GKE starts on
      its own as soon as a cluster is created, as real clusters are often upgraded or repaired right after
      creation (hashicorp/terraform-provider-google#3385, scylladb/scylla-operator#9); '' for none.
    - ``quotas``: regional quota limits by metric (``MESHBRIDGE_LAB_QUOTAS``, on top of ``DEFAULT_QUOTAS``).
    - ``os_login``: the project's metadata starts with ``enable-oslogin=TRUE``, as on projects under the
      organisation policy ``constraints/compute.requireOsLogin``.
    """

    def __init__(self, time_scale=None, rate_429=None, rate_503=None, seed=None, rate_403=None,
                 gke_operation_after_create=None, quotas=None, os_login=None):
        self.time_scale = _env_float('MESHBRIDGE_LAB_TIME_SCALE', 1.0) if time_scale is None else time_scale
        self.rate_429 = _env_float('MESHBRIDGE_LAB_FAULT_429_RATE', 0.0) if rate_429 is None else rate_429
        self.rate_503 = _env_float('MESHBRIDGE_LAB_FAULT_503_RATE', 0.0) if rate_503 is None else rate_503
        self.rate_403 = _env_float('MESHBRIDGE_LAB_FAULT_403_RATE', 0.0) if rate_403 is None else rate_403
        self.gke_operation_after_create = (os.environ.get('MESHBRIDGE_LAB_GKE_OPERATION_AFTER_CREATE', '')
                                           if gke_operation_after_create is None else gke_operation_after_create)
        self.quotas = dict(DEFAULT_QUOTAS, **(_env_quotas('MESHBRIDGE_LAB_QUOTAS') if quotas is None else quotas))
        self.os_login = (os.environ.get('MESHBRIDGE_LAB_OS_LOGIN', '').lower() in ('1', 'true')
                         if os_login is None else os_login)
        self.random = random.Random(seed)
        # Real-world seconds by operation type that replace REAL_DURATIONS' (a test's long GKE upgrade, say).
        self.durations = {}

    def duration(self, operation_type):
        real = self.durations.get(operation_type, REAL_DURATIONS.get(operation_type, _DEFAULT_DURATION))
        return real * self.time_scale

    def maybe_fault(self, service):
        """Raise the 429 or 503 a busy Google front end answers with, or compute's 403 rate-limit answer, at the
        configured rates."""
        draw = self.random.random()
        if draw < self.rate_429:
            raise ApiError(429, "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service "
                                "'%s.googleapis.com'." % service, reason='rateLimitExceeded', headers={'Retry-After': '1'})
        if draw < self.rate_429 + self.rate_503:
            raise ApiError(503, 'The service is currently unavailable.', reason='backendError')
        if service == 'compute' and draw < self.rate_429 + self.rate_503 + self.rate_403:
            # The shape Compute Engine's audit logs show for it
            # (https://cloud.google.com/compute/docs/troubleshooting/troubleshoot-operation-limits).
            raise ApiError(403, 'Rate Limit Exceeded', reason='rateLimitExceeded', domain='usageLimits')


def rfc3339(moment):
    return datetime.datetime.fromtimestamp(moment, datetime.timezone.utc).isoformat(timespec='milliseconds').replace('+00:00', 'Z')


class Operation:
    """One operation's state; the API modules render it in their own shapes."""

    def __init__(self, name, operation_type, scope, target_link, target_id=None, user=None):
        self.name = name
        self.operation_type = operation_type
        self.scope = scope                  # e.g. ('zones', 'us-west2-a') or ('global', None)
        self.target_link = target_link
        self.target_id = target_id
        self.user = user
        self.status = 'PENDING'
        self.created = time.time()
        self.started = None
        self.ended = None
        self.error = None                   # (code, message) once failed
        self.id = str(random.getrandbits(63))


class OperationQueue:
    """Runs each operation's work when its (scaled) time is up."""

    def __init__(self, settings):
        self.settings = settings
        self._changed = threading.Condition()
        self._injected_failures = {}
        self._timers = []

    def fail_next(self, operation_type, message='Injected failure.', code='INTERNAL_ERROR'):
        """Make the next operation of ``operation_type`` end in error (its work is not done)."""
        with self._changed:
            self._injected_failures[operation_type] = (code, message)

    def start(self, operation, work, rollback=None):
        """Schedule ``work()`` (may raise ApiError: the operation fails) to end ``operation``; returns it."""
        duration = self.settings.duration(operation.operation_type)
        with self._changed:
            failure = self._injected_failures.pop(operation.operation_type, None)
        self._later(duration * 0.1, self._run, operation)
        self._later(duration, self._finish, operation, work, rollback, failure)
        return operation

    def _later(self, delay, function, *args):
        timer = threading.Timer(delay, function, args)
        timer.daemon = True
        self._timers = [each for each in self._timers if each.is_alive()] + [timer]
        timer.start()

    def _run(self, operation):
        with self._changed:
            if operation.status == 'PENDING':
                operation.status = 'RUNNING'
                operation.started = time.time()
                self._changed.notify_all()

    def _finish(self, operation, work, rollback, failure):
        error = failure
        if error is None:
            try:
                work()
            except ApiError as failed:
                error = (failed.reason.upper(), failed.message)
            except Exception as failed:  # pylint: disable=broad-exception-caught
                # A bug in the stand-in must still end the operation, or clients would poll it forever.
                LOG.exception('operation %s failed', operation.name)
                error = ('INTERNAL_ERROR', '%s: %s' % (type(failed).__name__, failed))
        elif rollback is not None:
            rollback()
        with self._changed:
            operation.started = operation.started or time.time()
            operation.ended = time.time()
            operation.error = error
            operation.status = 'DONE'
            self._changed.notify_all()

    def wait(self, operation, timeout):
        """Block until ``operation`` is DONE or ``timeout`` seconds pass (compute's ``operations.wait``)."""
        deadline = time.time() + timeout
        with self._changed:
            while operation.status != 'DONE' and time.time() < deadline:
                self._changed.wait(deadline - time.time())

    def stop(self):
        for timer in self._timers:
            timer.cancel()
