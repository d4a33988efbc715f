"""A sending rate shared by every worker process: a token bucket kept in Redis, one Lua call per token.

The bucket is GCRA (the "generic cell rate algorithm"): the whole state is one number, the moment the next token
is free (its "theoretical arrival time"). Taking a token moves that moment on by one interval and tells the caller
how long to wait for the token it was given, so callers queue in the order they asked and sleep exactly once, with
no polling. The bucket holds one token, so it never lets a burst through: after an idle spell the first caller
goes at once and the next at most one interval later. A caller up to half an interval late keeps the slot it was
due (a worker busy for a moment, a sleep that overran), so the schedule does not slip by each lateness; the tokens
are then never closer than half an interval, and no second holds more than R + 1. (A fixed window, as a counter
per second, lets 2R through across a window's edge and makes everyone retry together when it turns over.)

Redis's own clock (``TIME``) is the only clock, so the workers' clocks never need to agree. Without Redis (the
embedded default) the bucket is kept in the process, which is all the one worker there is shares.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

# KEYS[1]: the bucket. ARGV[1]: microseconds per token; ARGV[2]: how late a caller may be and keep its slot.
# Returns {slot, wait}: the moment the token is free and how long from now that is (never below 0), both in
# microseconds of Redis's clock. Integers throughout: a double holds microseconds since 1970 exactly, and
# string.format keeps every digit where tostring would round to 14.
TAKE = """
local interval = tonumber(ARGV[1])
local late = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local slot = tonumber(redis.call('GET', KEYS[1]))
if slot == nil or slot < now - late then
    slot = now - late
end
local after = slot + interval
redis.call('SET', KEYS[1], string.format('%.0f', after), 'PX', math.ceil((after - now) / 1000) + 1000)
return {string.format('%.0f', slot), string.format('%.0f', math.max(slot - now, 0))}
"""


class Bucket(Protocol):
    def take(self) -> float:
        """Take one token; returns the seconds to wait before using it (0 when it is free now)."""
        ...


@dataclass
class RedisBucket:
    """One bucket shared by every process that names the same ``key`` on the same Redis."""

    client: Any  # redis.Redis
    key: str
    rate: float  # tokens per second
    _script: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError(f"a token bucket needs a positive rate, not {self.rate}")
        self._script = self.client.register_script(TAKE)

    @property
    def interval_us(self) -> int:
        return max(1, round(1_000_000 / self.rate))

    @property
    def late_us(self) -> int:
        return self.interval_us // 2

    def take_slot(self) -> tuple[int, int]:
        """(slot, wait): when the token is free and how long from now, in microseconds of Redis's clock."""
        slot, wait = self._script(keys=[self.key], args=[self.interval_us, self.late_us])
        return int(slot), int(wait)

    def take(self) -> float:
        return self.take_slot()[1] / 1_000_000


@dataclass
class LocalBucket:
    """The same bucket for the threads of one process, on its monotonic clock."""

    rate: float
    clock: Callable[[], float] = time.monotonic
    _next: float = field(default=0.0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError(f"a token bucket needs a positive rate, not {self.rate}")

    def take(self) -> float:
        with self._lock:
            now = self.clock()
            slot = max(self._next, now)
            self._next = slot + 1 / self.rate
            return slot - now


def wait_for_token(bucket: Bucket, *, sleep: Callable[[float], None] = time.sleep) -> None:
    """Block until this caller may use one token."""
    wait = bucket.take()
    if wait > 0:
        sleep(wait)
