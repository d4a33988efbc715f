"""The shared token bucket: tokens handed out one interval apart, whoever asks and however many ask at once.

Only the slots handed out are checked here (Redis's clock decides them, so nothing depends on how fast this
machine is); the rate achieved against a stand-in ESP is measured by bench/esp_rate.py.
"""

from __future__ import annotations

import bisect
import itertools
import multiprocessing
import uuid

import pytest
import redis

from subscribers.token_bucket import WINDOW_US, LocalBucket, RedisBucket, wait_for_token


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def _bucket(client: redis.Redis, rate: float) -> RedisBucket:
    return RedisBucket(client=client, key=f"test-bucket:{uuid.uuid4().hex}", rate=rate)


def test_tokens_are_one_interval_apart_and_an_idle_bucket_gives_no_burst(client: redis.Redis) -> None:
    bucket = _bucket(client, rate=5)  # 200,000 us apart
    slots = [bucket.take_slot() for _ in range(5)]
    assert slots[0][1] == 0  # a new bucket: the first token is free now
    assert [b[0] - a[0] for a, b in itertools.pairwise(slots)] == [200_000] * 4
    # Each caller is told to wait until its own slot, however fast they asked.
    assert all(wait > 0 for _, wait in slots[1:])
    assert slots[-1][1] >= 3 * 200_000


def test_a_bucket_idle_for_long_starts_again_from_now_not_from_saved_up_tokens(client: redis.Redis) -> None:
    bucket = _bucket(client, rate=10)
    client.set(bucket.key, "1")  # a slot long past, as after a night without sending
    (slot, wait), (second, _) = bucket.take_slot(), bucket.take_slot()
    assert wait == 0
    assert second - slot == 100_000  # the next token one interval later: nothing saved up while idle


def test_a_caller_a_little_late_keeps_its_slot_so_the_rate_is_not_lost(client: redis.Redis) -> None:
    # A worker that asks a moment after its slot passed (it was busy, or slept a little long) gets that slot, not
    # "now": otherwise every late arrival would push the schedule back, and at 500 a second the ESP saw 8% less.
    bucket = _bucket(client, rate=10)  # 100,000 us apart; a caller may be up to 50,000 us late
    seconds, micros = client.time()
    due = seconds * 1_000_000 + micros - 20_000
    client.set(bucket.key, str(due))
    (slot, wait), (second, _) = bucket.take_slot(), bucket.take_slot()
    assert (slot, wait) == (due, 0)
    assert second == due + 100_000


def test_a_caller_later_than_half_an_interval_starts_the_schedule_half_an_interval_back(client: redis.Redis) -> None:
    bucket = _bucket(client, rate=10)
    seconds, micros = client.time()
    client.set(bucket.key, str(seconds * 1_000_000 + micros - 400_000))
    (slot, wait), (second, second_wait) = bucket.take_slot(), bucket.take_slot()
    assert wait == 0
    # Never two tokens closer than half an interval: in any second at most R + 1.
    assert second - slot == 100_000
    assert second_wait >= 50_000 - 5_000  # the calls themselves take a few milliseconds at most


def _most_in_any_span(slots: list[int], span: int) -> int:
    """The most slots in any half-open span of ``span`` microseconds."""
    ordered = sorted(slots)
    return max(bisect.bisect_left(ordered, start + span) - i for i, start in enumerate(ordered))


def test_no_second_and_margin_holds_more_than_r_tokens_so_the_next_waits_for_the_margin(client: redis.Redis) -> None:
    bucket = _bucket(client, rate=10)
    slots = [bucket.take_slot()[0] for _ in range(25)]
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    # Ten tokens one interval apart fill 0.9 s; the eleventh waits until a second and the margin after the first.
    assert gaps[:9] == [100_000] * 9
    assert slots[10] - slots[0] == WINDOW_US == 1_020_000
    assert _most_in_any_span(slots, WINDOW_US) == 10
    assert _most_in_any_span(slots, 1_000_000) == 10


def test_late_callers_keeping_their_slots_never_put_more_than_r_tokens_in_a_second(client: redis.Redis) -> None:
    # Every caller is 40 ms late (its slot passed while it was busy): each keeps that slot and goes at once, so
    # GCRA alone would hand ten callers in a row their tokens within a few milliseconds of each other.
    bucket = _bucket(client, rate=10)  # 100,000 us apart; a caller may be up to 50,000 us late

    def redis_now() -> int:
        seconds, micros = client.time()
        return seconds * 1_000_000 + micros

    waits, began = [], redis_now()
    for _ in range(11):
        client.set(bucket.key, str(redis_now() - 40_000))
        waits.append(bucket.take_slot()[1])
    ended = redis_now()
    assert waits[:10] == [0] * 10
    # The eleventh waits until a second and the margin after the first token was used (when its caller asked, not
    # its slot 40 ms before): its slot is at least `began` + WINDOW_US, and it was told so no later than `ended`.
    assert waits[10] + (ended - began) >= WINDOW_US
    assert waits[10] <= WINDOW_US


def test_the_bucket_key_expires_once_idle(client: redis.Redis) -> None:
    bucket = _bucket(client, rate=10)
    bucket.take()
    # Kept for as long as the last slots still bind the next token: the window and a second to spare.
    assert 0 < client.pttl(bucket.key) <= WINDOW_US // 1000 + 1000
    assert 0 < client.pttl(bucket.recent_key) <= WINDOW_US // 1000 + 1000


def _take_many(redis_url: str, key: str, rate: float, count: int, start: object, queue: multiprocessing.Queue) -> None:
    bucket = RedisBucket(client=redis.Redis.from_url(redis_url), key=key, rate=rate)
    bucket.client.ping()
    start.wait()  # type: ignore[attr-defined]
    queue.put([bucket.take_slot()[0] for _ in range(count)])


def test_processes_sharing_a_bucket_get_distinct_slots_one_interval_apart(redis_url: str) -> None:
    """Two worker processes asking as fast as they can: between them, never two tokens closer than the interval."""
    key, rate, each = f"test-bucket:{uuid.uuid4().hex}", 100.0, 150
    context = multiprocessing.get_context("spawn")
    queue, start = context.Queue(), context.Barrier(2)
    workers = [context.Process(target=_take_many, args=(redis_url, key, rate, each, start, queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    slots = sorted(slot for _ in workers for slot in queue.get(timeout=60))
    for worker in workers:
        worker.join(timeout=30)
    assert len(slots) == len(set(slots)) == 2 * each
    # Both asked far faster than 100 a second, so the slots queue up back to back: 1 / 100 s apart, and after each
    # hundred tokens the margin (a hundred tokens fill 0.99 s; the next waits until 1.02 s after the first).
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert set(gaps) == {10_000, 30_000}
    assert [i for i, gap in enumerate(gaps) if gap == 30_000] == [99, 199]
    # At most `rate` tokens in any one second of the bucket's clock, and in any second and margin.
    assert _most_in_any_span(slots, WINDOW_US) == rate


def test_an_unreachable_redis_is_an_error_not_a_free_pass() -> None:
    bucket = RedisBucket(
        client=redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5), key="test-bucket:down", rate=10
    )
    with pytest.raises(redis.ConnectionError):
        bucket.take()


def test_a_rate_must_be_positive(client: redis.Redis) -> None:
    with pytest.raises(ValueError, match="positive rate"):
        _bucket(client, rate=0)
    with pytest.raises(ValueError, match="positive rate"):
        LocalBucket(rate=-1)


def test_the_local_bucket_spaces_tokens_on_its_clock_and_waits_for_them() -> None:
    now = [100.0]
    bucket = LocalBucket(rate=4, clock=lambda: now[0])
    waits = [bucket.take() for _ in range(3)]
    assert waits == [0.0, 0.25, 0.5]
    now[0] = 200.0  # idle a long while: no tokens saved up
    assert bucket.take() == 0.0
    assert bucket.take() == 0.25
    slept: list[float] = []
    wait_for_token(bucket, sleep=slept.append)
    assert slept == [0.5]
    # The fifth token in a row waits for a second and the margin after the first of the four before it.
    assert bucket.take() == pytest.approx(0.75)
    assert bucket.take() == pytest.approx(1.02)
