"""The one wait loop: reads until done, sleeps by its back-off clock, never past the deadline, and
says what it still waits for when the deadline passes."""

import pytest
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpTimeoutError
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_poll import Backoff, Deadline, PollTimeout, poll


class Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_returns_the_first_value_that_is_done_without_sleeping_after_it():
    clock = Clock()
    values = iter([1, 2, 3])
    assert poll(lambda: next(values), lambda v: v == 3, 60, str, sleep=clock.sleep, clock=clock) == 3
    assert clock.sleeps == [1.0, 1.5]


def test_backs_off_to_the_cap_and_times_out_with_the_description_of_the_last_read():
    clock = Clock()
    with pytest.raises(PollTimeout) as info:
        poll(lambda: "PENDING", lambda v: False, 20, lambda v: "still %s" % v, sleep=clock.sleep, clock=clock)
    assert isinstance(info.value, GcpTimeoutError) and info.value.reason == "timeout"
    assert str(info.value) == "still PENDING" and info.value.value == "PENDING"
    assert clock.sleeps[:5] == [1.0, 1.5, 2.25, 3.375, 5.0] and max(clock.sleeps) == 5.0
    assert clock.now == 20.0, "the last sleep ends at the deadline, not after it"


def test_near_reads_come_faster_and_do_not_grow_the_delay():
    clock = Clock()
    values = iter(["far", "near", "near", "far", "done"])
    backoff = Backoff(1.0, 2.0, 8.0, near=lambda v: v == "near", near_delay=0.5)
    poll(lambda: next(values), lambda v: v == "done", 60, str, delay=backoff, sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [1.0, 0.5, 0.5, 2.0]


def test_a_deadline_can_be_shared_and_a_zero_delay_does_not_sleep():
    clock = Clock()
    deadline = Deadline(0, clock, at=3.0)
    reads = []

    def read():
        reads.append(clock.now)
        clock.now += 1.0  # the read itself takes the time (a long-poll)
        return len(reads)

    with pytest.raises(PollTimeout):
        poll(read, lambda v: False, deadline, str, delay=lambda v: 0.0, sleep=clock.sleep, clock=clock)
    assert reads == [0.0, 1.0, 2.0] and clock.sleeps == []
