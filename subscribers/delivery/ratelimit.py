"""``ESP_RATE_LIMIT`` across every sending worker: one token bucket (``subscribers.token_bucket``) in Redis.

Every worker process takes its tokens from the same bucket, so two workers together hand the ESP at most
``ESP_RATE_LIMIT`` messages a second, one interval apart, never two seconds' worth across a window's edge. Without
Redis (the embedded setup) the bucket is kept in the process.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable

import redis
from django.conf import settings

from subscribers.token_bucket import Bucket, LocalBucket, RedisBucket, wait_for_token

BUCKET_KEY = "esp-rate"


@functools.cache
def _bucket(url: str, rate: float, pid: int) -> Bucket:
    """One bucket (and one Redis connection) per process and rate; ``pid``: a forked worker makes its own."""
    if not url:
        return LocalBucket(rate=rate)
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5, single_connection_client=True)
    return RedisBucket(client=client, key=BUCKET_KEY, rate=rate)


def esp_rate_limit_wait(*, sleep: Callable[[float], None] = time.sleep) -> None:
    """Block until this process may hand one more message to the ESP; raises if the bucket is unreachable."""
    rate = settings.ESP_RATE_LIMIT
    if rate <= 0:
        return
    wait_for_token(_bucket(settings.REDIS_URL, rate, os.getpid()), sleep=sleep)
