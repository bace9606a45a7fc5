"""poll: the bounded wait with backoff under grpc_health and grpc_call."""

import time

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.grpc_wire import poll
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.polling import PollTimeout


def test_waits_back_off_and_the_value_comes_back():
    moments = []

    def attempt(call_timeout):
        moments.append(time.monotonic())
        return ('ready', None) if len(moments) == 4 else (None, 'not yet')

    value, attempts, elapsed = poll(attempt, timeout=5, interval=0.05, max_interval=0.2)
    assert (value, attempts) == ('ready', 4)
    gaps = [later - earlier for earlier, later in zip(moments, moments[1:])]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2
    assert gaps[1] > gaps[0] * 1.5, gaps
    assert elapsed >= sum(gaps)


def test_gives_up_within_the_timeout_with_the_last_reason():
    said = 'first second third fourth fifth sixth seventh eighth'.split()
    reasons = iter(said)

    def attempt(call_timeout):
        assert 0.1 <= call_timeout <= 5.0
        return None, next(reasons)

    started = time.monotonic()
    with pytest.raises(PollTimeout) as timed_out:
        poll(attempt, timeout=0.5, interval=0.1, max_interval=0.1)
    assert time.monotonic() - started <= 0.6
    assert timed_out.value.attempts >= 3
    # The last attempt is made at the deadline, and its reason is the one reported.
    assert timed_out.value.last == said[timed_out.value.attempts - 1]
