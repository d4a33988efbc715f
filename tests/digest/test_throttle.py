"""The shared request spacing, on the real cache (Redis in CI), with a clock the test moves by hand."""

from __future__ import annotations

import uuid

import pytest

from digest.throttle import Throttled, throttle_pause, throttle_wait


class Clock:
    """Wall-clock stand-in: ``sleep`` moves it forward, so waits are exact and the test takes no time."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def name() -> str:
    return f"test-{uuid.uuid4().hex}"  # each test its own API name, so cache keys never carry over


def test_callers_at_the_same_moment_are_spaced_one_interval_apart(name: str) -> None:
    clock = Clock()
    start = clock.now
    fired = []
    for _ in range(3):
        # Each caller arrives at the same wall-clock moment (as three workers would) and is given its own turn.
        clock.now = start
        throttle_wait(name=name, interval=3.0, max_wait=30.0, sleep=clock.sleep, clock=clock)
        fired.append(clock.now - start)

    assert fired == [0.0, 3.0, 6.0]


def test_an_idle_api_is_asked_at_once(name: str) -> None:
    clock = Clock()
    throttle_wait(name=name, interval=3.0, max_wait=30.0, sleep=clock.sleep, clock=clock)
    clock.now += 10.0  # long after the last request

    waited = throttle_wait(name=name, interval=3.0, max_wait=30.0, sleep=clock.sleep, clock=clock)

    assert waited == 0.0


def test_a_pause_holds_every_caller_back(name: str) -> None:
    clock = Clock()
    start = clock.now
    throttle_pause(name=name, seconds=20.0, clock=clock)
    throttle_pause(name=name, seconds=5.0, clock=clock)  # a shorter pause never shortens the longer one

    throttle_wait(name=name, interval=3.0, max_wait=30.0, sleep=clock.sleep, clock=clock)

    assert clock.now - start == pytest.approx(20.0)


def test_a_caller_that_would_wait_too_long_is_told_when_to_come_back(name: str) -> None:
    clock = Clock()
    for _ in range(3):
        clock.now = 1_800_000_000.0
        throttle_wait(name=name, interval=3.0, max_wait=30.0, sleep=clock.sleep, clock=clock)
    clock.now = 1_800_000_000.0

    with pytest.raises(Throttled) as raised:
        throttle_wait(name=name, interval=3.0, max_wait=5.0, sleep=clock.sleep, clock=clock)

    assert raised.value.retry_after == pytest.approx(9.0)
    # The refused caller took no turn: the next one still goes 9 s after the first.
    throttle_wait(name=name, interval=3.0, max_wait=30.0, sleep=clock.sleep, clock=clock)
    assert clock.now - 1_800_000_000.0 == pytest.approx(9.0)


def test_no_interval_means_no_waiting(name: str) -> None:
    clock = Clock()
    for _ in range(5):
        assert throttle_wait(name=name, interval=0.0, max_wait=0.0, sleep=clock.sleep, clock=clock) == 0.0
    assert clock.slept == []


def test_a_pause_holds_even_without_an_interval(name: str) -> None:
    clock = Clock()
    throttle_pause(name=name, seconds=4.0, clock=clock)

    with pytest.raises(Throttled):
        throttle_wait(name=name, interval=0.0, max_wait=1.0, sleep=clock.sleep, clock=clock)
    assert throttle_wait(name=name, interval=0.0, max_wait=10.0, sleep=clock.sleep, clock=clock) == pytest.approx(4.0)
