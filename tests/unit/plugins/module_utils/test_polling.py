"""polling.Poller: the one bounded wait with backoff behind every poll loop (mesh_add_vm, istio_install, the GCP
operation waits, grpc_health and grpc_call)."""

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.polling import PollTimeout, Poller

from .fake_clock import FakeClock


def test_backs_off_from_half_a_second_by_half_again_up_to_five_seconds():
    clock = FakeClock()
    values = iter([None] * 9 + ['ready'])
    value, reads, elapsed = Poller(clock=clock, sleep=clock.sleep).until(
        lambda: next(values), lambda value: value is not None, timeout=60, describe=str)
    assert (value, reads) == ('ready', 10)
    assert clock.sleeps == pytest.approx([0.5, 0.75, 1.125, 1.6875, 2.53125, 3.796875, 5.0, 5.0, 5.0])
    assert elapsed == pytest.approx(sum(clock.sleeps), abs=0.001)


def test_never_sleeps_past_the_deadline_and_reads_once_more_at_it():
    clock = FakeClock()
    reads = []

    def read():
        reads.append(clock.now)
        return 'pending %d' % len(reads)

    with pytest.raises(PollTimeout) as timed_out:
        Poller(clock=clock, sleep=clock.sleep).until(read, lambda value: False, timeout=2,
                                                     describe=lambda value: 'still %s' % value)
    assert sum(clock.sleeps) == pytest.approx(2)
    assert clock.sleeps[-1] == pytest.approx(2 - 0.5 - 0.75)
    assert reads[-1] == pytest.approx(2)
    assert timed_out.value.last == 'still pending 4' == str(timed_out.value)
    assert (timed_out.value.attempts, timed_out.value.elapsed) == (4, 2)


def test_a_condition_that_holds_at_once_does_not_sleep():
    clock = FakeClock()
    assert Poller(clock=clock, sleep=clock.sleep).until(lambda: 1, bool, 10, str) == (1, 1, 0)
    assert clock.sleeps == []
