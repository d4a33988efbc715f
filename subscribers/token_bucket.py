"""A sending rate shared by every worker process: a token bucket kept in Redis, one Lua call per token.

The bucket is GCRA (the "generic cell rate algorithm"): its state is the moment the next token is free (its
"theoretical arrival time"). Taking a token moves that moment on by one interval and tells the caller how long to
wait for the token it was given, so callers queue in the order they asked and sleep exactly once, with no polling.
The bucket holds one token, so it never lets a burst through: after an idle spell the first caller goes at once and
the next at most one interval later. A caller up to half an interval late keeps the slot it was due (a worker busy
for a moment, a sleep that overran), so the schedule does not slip by each lateness.

Keeping late callers' slots would let a second hold R + 1 tokens, and the ESP counts arrivals, which come a
varying moment after their tokens (the message is built, the request travels). So the bucket also keeps when its
last R tokens were used (R's whole part, at least 1; a late caller uses its token when it asks, not at its slot),
and never gives a token less than ``WINDOW_US`` (1 s and a 20 ms margin) after the R-th last one: no span of
``WINDOW_US`` holds more than R tokens, and no second at the ESP holds more than R while the time from token to
arrival varies by less than the margin. The margin costs 2% of R. (A fixed window, as a counter per second, lets
2R through across a window's edge and makes everyone retry together when it turns over.)

Redis's own clock (``TIME``) is the only clock, so the workers' clocks never need to agree. Without Redis (the
embedded default) the bucket is kept in the process, which is all the one worker there is shares.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

# The span in which at most R tokens are given: a second, and a margin for the varying time from a token to the ESP.
WINDOW_US = 1_020_000

# KEYS[1]: the next free slot; KEYS[2]: when the last ARGV[3] tokens were used (a late caller's now, not its slot,
# which may be half an interval back), newest first. ARGV[1]: microseconds per token; ARGV[2]: how late a caller
# may be and keep its slot; ARGV[3]: most tokens in ARGV[4] microseconds.
# Returns {slot, wait}: the moment the token is free and how long from now that is (never below 0), both in
# microseconds of Redis's clock. Integers throughout: a double holds microseconds since 1970 exactly, and
# string.format keeps every digit where tostring would round to 14.
TAKE = """
local interval = tonumber(ARGV[1])
local late = tonumber(ARGV[2])
local most = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local slot = tonumber(redis.call('GET', KEYS[1]))
if slot == nil then
    slot = now
elseif slot < now - late then
    slot = now - late
end
local oldest = tonumber(redis.call('LINDEX', KEYS[2], most - 1))
if oldest ~= nil and slot < oldest + window then
    slot = oldest + window
end
local after = slot + interval
local ttl = math.ceil((math.max(after, slot + window) - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', after), 'PX', ttl)
redis.call('LPUSH', KEYS[2], string.format('%.0f', math.max(slot, now)))
redis.call('LTRIM', KEYS[2], 0, most - 1)
redis.call('PEXPIRE', KEYS[2], ttl)
return {string.format('%.0f', slot), string.format('%.0f', math.max(slot - now, 0))}
"""


def most_per_window(rate: float) -> int:
    """At most R tokens in a second means R's whole part (2.5 a second can only be met as 2), and at least one."""
    return max(1, int(rate))


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

    @property
    def most(self) -> int:
        """Most tokens in any ``WINDOW_US``: the rate's whole part, at least 1."""
        return most_per_window(self.rate)

    @property
    def recent_key(self) -> str:
        return f"{self.key}:recent"

    def take_slot(self) -> tuple[int, int]:
        """(slot, wait): when the token is free and how long from now, in microseconds of Redis's clock."""
        slot, wait = self._script(
            keys=[self.key, self.recent_key], args=[self.interval_us, self.late_us, self.most, WINDOW_US]
        )
        return int(slot), int(wait)

    def take(self) -> float:
        return self.take_slot()[1] / 1_000_000


@dataclass
class LocalBucket:
    """The same bucket for the threads of one process, on its monotonic clock."""

    rate: float
    clock: Callable[[], float] = time.monotonic
    _next: float = field(default=0.0, init=False)
    _recent: deque[float] = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError(f"a token bucket needs a positive rate, not {self.rate}")
        self._recent = deque(maxlen=most_per_window(self.rate))

    def take(self) -> float:
        with self._lock:
            now = self.clock()
            slot = max(self._next, now)
            if len(self._recent) == self._recent.maxlen:
                slot = max(slot, self._recent[0] + WINDOW_US / 1_000_000)
            self._recent.append(slot)
            self._next = slot + 1 / self.rate
            return slot - now


def wait_for_token(bucket: Bucket, *, sleep: Callable[[float], None] = time.sleep) -> None:
    """Block until this caller may use one token."""
    wait = bucket.take()
    if wait > 0:
        sleep(wait)
