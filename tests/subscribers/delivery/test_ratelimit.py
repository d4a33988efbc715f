"""ESP_RATE_LIMIT: one token bucket in Redis for every sending worker process.

The rate achieved by two real workers against a stand-in ESP is measured by bench/esp_rate.py.
"""

from __future__ import annotations

import itertools

import pytest
import redis

from subscribers.delivery import ratelimit
from subscribers.delivery.ratelimit import BUCKET_KEY, esp_rate_limit_wait
from subscribers.token_bucket import WINDOW_US, LocalBucket, RedisBucket


@pytest.fixture
def shared(settings, redis_url: str) -> str:
    settings.REDIS_URL = redis_url
    redis.Redis.from_url(redis_url).delete(BUCKET_KEY)
    return redis_url


def test_two_worker_processes_take_their_tokens_from_one_bucket(shared: str) -> None:
    # What two forked workers get: a bucket each (their own connection), on the same Redis key.
    first, second = ratelimit._bucket(shared, 4.0, 1001), ratelimit._bucket(shared, 4.0, 1002)
    assert first is not second
    assert isinstance(first, RedisBucket) and isinstance(second, RedisBucket)
    slots = [first.take_slot()[0], second.take_slot()[0], first.take_slot()[0]]
    # A quarter of a second apart whichever process asks: together they get 4 tokens a second, not 4 each.
    assert [b - a for a, b in itertools.pairwise(slots)] == [250_000, 250_000]


def test_the_sender_waits_for_its_token(settings, shared: str) -> None:
    settings.ESP_RATE_LIMIT = 2
    slept: list[float] = []
    esp_rate_limit_wait(sleep=slept.append)  # an idle bucket: the first token is free now
    assert slept == []
    esp_rate_limit_wait(sleep=slept.append)
    esp_rate_limit_wait(sleep=slept.append)
    # The second waits up to one interval (never two tokens in the same half second); the third until a second
    # and the margin after the first, as two a second allows no more than two in any second.
    assert len(slept) == 2 and 0 < slept[0] <= 0.5
    assert 1.0 < slept[1] <= WINDOW_US / 1_000_000


def test_an_unreachable_bucket_raises_so_the_chunk_pauses_instead_of_sending_unlimited(settings) -> None:
    settings.ESP_RATE_LIMIT = 10
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    with pytest.raises(redis.ConnectionError):
        esp_rate_limit_wait(sleep=lambda seconds: pytest.fail("waited"))


def test_without_redis_the_bucket_is_the_process_own(settings) -> None:
    settings.REDIS_URL = ""
    assert isinstance(ratelimit._bucket("", 5.0, 1), LocalBucket)


def test_no_rate_limit_configured_never_waits(settings) -> None:
    settings.ESP_RATE_LIMIT = 0
    for _ in range(100):
        esp_rate_limit_wait(sleep=lambda seconds: pytest.fail("waited"))
