"""Operation waits are bounded, poll at growing intervals, report progress and turn operation errors into messages."""

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import (
    GcpOperationError, GcpOperationTimeout, format_operation_error)
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.operations import OperationWaiter, Poller

from ..fake_clock import FakeClock

OP_URL = 'https://compute.googleapis.com/compute/v1/projects/p/zones/z/operations/op-1'


class OperationsApi:
    """Answers GETs of one operation with the scripted states."""

    def __init__(self, *states):
        self.states = list(states)
        self.gets = 0

    def get(self, url):
        assert url == OP_URL
        self.gets += 1
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]


def operation(status, **extra):
    result = {'name': 'op-1', 'operationType': 'insert', 'targetLink': 'https://.../instances/vm', 'status': status}
    result.update(extra)
    return result


def make_waiter(api, clock):
    return OperationWaiter(api, Poller(first=1.0, factor=2.0, cap=8.0, clock=clock, sleep=clock.sleep))


def test_waits_until_done_with_growing_intervals_and_records_progress(clock):
    api = OperationsApi(operation('RUNNING'), operation('RUNNING'), operation('RUNNING'), operation('DONE'))
    waiter = make_waiter(api, clock)
    done = waiter.wait(operation('PENDING'), OP_URL, timeout=60)
    assert done['status'] == 'DONE'
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert waiter.progress == [{'operation': 'op-1', 'type': 'insert', 'target': 'https://.../instances/vm',
                                'status': 'DONE', 'polls': 4, 'elapsed': 7.0}]


def test_an_operation_already_done_is_not_polled(clock):
    api = OperationsApi(operation('DONE'))
    assert make_waiter(api, clock).wait(operation('DONE'), OP_URL, timeout=60)['status'] == 'DONE'
    assert api.gets == 0


def test_times_out_naming_the_operation_and_its_status(clock):
    api = OperationsApi(operation('RUNNING', progress=40))
    waiter = make_waiter(api, clock)
    with pytest.raises(GcpOperationTimeout) as caught:
        waiter.wait(operation('PENDING'), OP_URL, timeout=20)
    message = str(caught.value)
    assert 'operation op-1 (insert on https://.../instances/vm) is still RUNNING (40% done)' in message
    assert 'timeout 20 s' in message
    # Never sleeps past the deadline.
    assert sum(clock.sleeps) == 20
    assert waiter.progress[0]['status'] == 'RUNNING'


def test_compute_operation_error_is_raised_with_the_apis_messages(clock):
    failed = operation('DONE', error={'errors': [{'code': 'QUOTA_EXCEEDED', 'message': "Quota 'CPUS' exceeded."}]})
    waiter = make_waiter(OperationsApi(failed), clock)
    with pytest.raises(GcpOperationError, match=r"op-1 \(insert on .*\) failed: QUOTA_EXCEEDED: Quota 'CPUS' exceeded."):
        waiter.wait(operation('RUNNING'), OP_URL, timeout=60)
    assert waiter.progress[0]['error'].endswith("QUOTA_EXCEEDED: Quota 'CPUS' exceeded.")


def test_container_operation_error_is_a_status():
    failed = {'name': 'operation-9', 'operationType': 'CREATE_CLUSTER', 'targetLink': 'https://.../clusters/west',
              'status': 'DONE', 'statusMessage': 'Insufficient regional quota',
              'error': {'code': 8, 'message': 'Insufficient regional quota to satisfy request'}}
    assert format_operation_error(failed) == ('operation operation-9 (CREATE_CLUSTER on https://.../clusters/west) '
                                              'failed: 8: Insufficient regional quota to satisfy request')
    assert format_operation_error(dict(failed, error=None)) is None


@pytest.fixture(name='clock')
def fixture_clock():
    return FakeClock()
