"""poll: the bounded wait with backoff under grpc_health and grpc_call."""

import types

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import grpc_wire, polling
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.grpc_wire import poll
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.polling import PollTimeout

from .fake_clock import FakeClock

ATTEMPT_SECONDS = 0.01  # what each attempt costs on the fake clock


@pytest.fixture
def clock(monkeypatch):
    """A fake clock in place of the ``time`` module grpc_wire and the shared poller use: only its sleeps and the
    attempts move it, so the timings asserted below do not depend on how loaded the machine is."""
    fake = FakeClock()
    fake_time = types.SimpleNamespace(monotonic=fake, sleep=fake.sleep)
    monkeypatch.setattr(grpc_wire, 'time', fake_time)
    monkeypatch.setattr(polling, 'time', fake_time)
    return fake


def test_waits_back_off_and_the_value_comes_back(clock):
    moments = []

    def attempt(call_timeout):
        moments.append(clock.now)
        clock.now += ATTEMPT_SECONDS
        return ('ready', None) if len(moments) == 4 else (None, 'not yet')

    value, attempts, elapsed = poll(attempt, timeout=5, interval=0.05, max_interval=0.2)
    assert (value, attempts) == ('ready', 4)
    assert clock.sleeps == [0.05, 0.1, 0.2]
    gaps = [later - earlier for earlier, later in zip(moments, moments[1:])]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2
    assert gaps[1] > gaps[0] * 1.5, gaps
    assert elapsed >= sum(gaps)
    assert elapsed == pytest.approx(sum(clock.sleeps) + 4 * ATTEMPT_SECONDS)


def test_gives_up_within_the_timeout_with_the_last_reason(clock):
    reasons = iter('first second third fourth fifth sixth seventh eighth'.split())
    call_timeouts = []

    def attempt(call_timeout):
        assert 0.1 <= call_timeout <= 5.0
        call_timeouts.append(call_timeout)
        clock.now += ATTEMPT_SECONDS
        return None, next(reasons)

    with pytest.raises(PollTimeout) as timed_out:
        poll(attempt, timeout=0.5, interval=0.1, max_interval=0.1)
    # Attempts at 0, 0.11, 0.22, 0.33 and 0.44 s, then a last one at the deadline after a shortened sleep; poll gives
    # up once that one has failed.
    assert clock.now == pytest.approx(0.5 + ATTEMPT_SECONDS)
    assert clock.sleeps == pytest.approx([0.1] * 4 + [0.05])
    assert timed_out.value.attempts == 6
    assert timed_out.value.last == 'sixth'
    assert call_timeouts == pytest.approx([0.5, 0.39, 0.28, 0.17, 0.1, 0.1])
