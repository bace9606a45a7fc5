"""Progress of a long GKE operation: the cluster's creation and deletion are started without waiting and the
operation returned; a run that finds one under way names it instead of starting another; the operation is then
watched in bounded slices, each of which says its status and age, as gke_cluster's wait loop shows them."""

import calendar

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.container import Cluster
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import GcpOperationError
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.operations import (
    OperationWatch, Poller, describe_operation)

from ..fake_clock import FakeClock
from .test_resources import FakeApi, cluster_as_api_returns, cluster_params, waiter

LOCATION = 'https://container.googleapis.com/v1/projects/p/locations/us-west2-a'
URL = LOCATION + '/clusters/west'
OP_URL = LOCATION + '/operations/operation-1'
START = calendar.timegm((2026, 1, 2, 3, 0, 0, 0, 0, 0))


class SlowOperation:
    """A CREATE_CLUSTER operation that is RUNNING until ``takes`` seconds of the fake clock have passed, then DONE
    (with ``error`` if given). Started at START on the wall clock, which moves with the fake clock."""

    def __init__(self, clock, takes, error=None):
        self.clock = clock
        self.takes = takes
        self.error = error
        self.reads = []

    def wall(self):
        return START + self.clock.now

    def get(self, url):
        assert url == OP_URL
        self.reads.append(self.clock.now)
        operation = {'name': 'operation-1', 'operationType': 'CREATE_CLUSTER', 'targetLink': URL,
                     'startTime': '2026-01-02T03:00:00.123456789Z',
                     'status': 'DONE' if self.clock.now >= self.takes else 'RUNNING'}
        if operation['status'] == 'DONE' and self.error:
            operation['error'] = {'code': 13, 'message': self.error}
        return operation


def watch_as_the_role_does(api, clock, timeout, interval):
    """gke_cluster's loop: at most ceil(timeout / interval) calls of interval seconds each, the last one failing
    when the operation is still not DONE; breaks on the first DONE. Returns (fake time, line) after each call."""
    shown = []
    calls = -(-timeout // interval)
    for call in range(calls):
        operation, done, dummy, line = OperationWatch(api, Poller(first=2.0, cap=10.0, clock=clock, sleep=clock.sleep),
                                                      wall=api.wall).watch(OP_URL, interval)
        shown.append((clock.now, line))
        if done:
            return shown, operation
        if call == calls - 1:
            raise AssertionError('still %s after %d calls' % (operation['status'], calls))
    return shown, None


def test_a_slow_creation_is_shown_at_least_every_interval_with_its_status_and_age():
    clock = FakeClock()
    api = SlowOperation(clock, takes=130)
    shown, operation = watch_as_the_role_does(api, clock, timeout=2400, interval=25)
    assert operation['status'] == 'DONE'
    times = [at for at, dummy in shown]
    # A line at least every 25 s (the module's wait), and the last one as soon as the operation is done.
    assert times == [25, 50, 75, 100, 125, times[-1]] and 130 <= times[-1] < 140
    assert all(later - earlier <= 25 for earlier, later in zip([0] + times, times))
    assert shown[0][1] == 'operation operation-1 (CREATE_CLUSTER on west) is RUNNING, 24 s since it started'
    assert shown[3][1].endswith('is RUNNING, 99 s since it started')
    # The start time has a fraction of a second: 0.12 s before the fake clock's 0.
    assert shown[-1][1] == 'operation operation-1 (CREATE_CLUSTER on west) is DONE, %d s since it started' % (
        times[-1] - 1)


def test_an_operation_longer_than_the_timeout_fails_on_the_last_call():
    clock = FakeClock()
    with pytest.raises(AssertionError, match='still RUNNING after 4 calls'):
        watch_as_the_role_does(SlowOperation(clock, takes=1000), clock, timeout=100, interval=25)
    assert clock.now == 100


def test_a_failed_operation_raises_its_error_when_it_finishes():
    clock = FakeClock()
    api = SlowOperation(clock, takes=40, error='Insufficient regional quota to satisfy request.')
    watch = OperationWatch(api, Poller(first=2.0, cap=10.0, clock=clock, sleep=clock.sleep), wall=api.wall)
    assert watch.watch(OP_URL, 25)[1] is False
    with pytest.raises(GcpOperationError, match=r'CREATE_CLUSTER on .*/clusters/west\) failed: 13: Insufficient'):
        watch.watch(OP_URL, 25)


def test_a_zero_wait_reads_once():
    clock = FakeClock()
    api = SlowOperation(clock, takes=40)
    watch = OperationWatch(api, Poller(first=2.0, cap=10.0, clock=clock, sleep=clock.sleep), wall=api.wall)
    assert watch.watch(OP_URL, 0)[1:3] == (False, 1) and clock.now == 0


@pytest.mark.parametrize('start, age', [
    ('2026-01-02T03:00:00Z', ', 90 s since it started'),
    ('2026-01-02T04:00:00+01:00', ', 90 s since it started'),
    ('2026-01-02T03:00:00.5Z', ', 89 s since it started'),
    (None, ''),
    ('yesterday', ''),
])
def test_the_line_gives_the_age_from_the_start_time_when_there_is_one(start, age):
    operation = {'name': 'operation-2', 'operationType': 'DELETE_CLUSTER', 'targetLink': URL, 'status': 'RUNNING',
                 'startTime': start}
    assert describe_operation(operation, START + 90) == 'operation operation-2 (DELETE_CLUSTER on west) is RUNNING' + age


# -- container_cluster with wait=false -------------------------------------------------------------------------------

def slow_cluster_api():
    """A FakeApi whose cluster creation and deletion stay RUNNING (the cluster PROVISIONING or STOPPING) and are
    listed among the location's operations, as GKE shows them while they run."""
    api = FakeApi(cluster_as_api_returns)
    running = {'name': 'operation-1', 'operationType': 'CREATE_CLUSTER', 'status': 'RUNNING',
               'targetLink': 'https://container.googleapis.com/v1/projects/123/zones/us-west2-a/clusters/west',
               'selfLink': 'https://container.googleapis.com/v1/projects/123/zones/us-west2-a/operations/operation-1',
               'startTime': '2026-01-02T03:00:00Z'}
    create = api.post

    def post(url, body=None):
        create(url, body)
        if url.endswith('/clusters'):
            api.resources[URL]['status'] = 'PROVISIONING'
            api.resources[LOCATION + '/operations'] = {'operations': [running]}
            return dict(running)
        return {'name': 'op', 'status': 'DONE'}

    api.post = post
    return api


def run(api, check_mode=False, **overrides):
    params = cluster_params(**overrides)
    clock = FakeClock()
    return Cluster(api, params, waiter(api), poller=Poller(clock=clock, sleep=clock.sleep)).run(params['state'], check_mode)


def test_wait_false_starts_the_creation_and_returns_its_operation_without_polling():
    api = slow_cluster_api()
    result = run(api, wait=False)
    assert result['changed'] and result['operation']['name'] == 'operation-1'
    assert result['operation']['operationType'] == 'CREATE_CLUSTER' and result['operations'] == []
    assert result['cluster']['status'] == 'PROVISIONING'
    assert [mutation[0] for mutation in api.mutations] == ['POST']


def test_a_creation_under_way_is_named_not_started_again_and_changes_nothing():
    api = slow_cluster_api()
    run(api, wait=False)
    # The run was killed; the next one finds the cluster PROVISIONING.
    again = run(api, wait=False)
    assert not again['changed'] and again['operation']['name'] == 'operation-1'
    assert len(api.mutations) == 1
    # Check mode does not look for operations: it predicts from the cluster as it is, and starts nothing.
    predicted = run(api, wait=False, check_mode=True)
    assert predicted['operation'] is None and len(api.mutations) == 1


def test_check_mode_with_wait_false_predicts_the_creation_and_starts_nothing():
    api = slow_cluster_api()
    predicted = run(api, wait=False, check_mode=True)
    assert predicted['changed'] and predicted['operation'] is None and api.mutations == []


def test_wait_false_deletion_returns_its_operation_and_a_converged_cluster_returns_none():
    api = FakeApi(cluster_as_api_returns)
    run(api)
    converged = run(api, wait=False)
    assert not converged['changed'] and converged['operation'] is None
    deleted = run(api, wait=False, state='absent')
    assert deleted['changed'] and deleted['operation'] == {
        'name': 'op', 'operationType': 'x', 'status': 'DONE', 'targetLink': None, 'selfLink': None, 'startTime': None}
    assert deleted['operations'] == []  # not waited for


def test_wait_true_still_waits_and_returns_no_operation():
    api = FakeApi(cluster_as_api_returns)
    result = run(api)
    assert result['changed'] and result['operation'] is None and result['cluster']['status'] == 'RUNNING'
    assert [record['status'] for record in result['operations']] == ['DONE']
