"""Polite spacing of requests to an outside API, held across every process and machine through the cache.

arXiv's API terms ask for no more than one request every three seconds, from the whole deployment, not per worker.
Each caller reserves the next free moment under a short cache lock (an atomic ``add``: Redis ``SET NX`` in
production) and then sleeps until it, outside the lock, so reservations are strictly ``interval`` apart and a
caller on an idle API goes at once. A server that says "too many requests" pauses everyone for as long as it asks.
A caller that would wait longer than it may (a busy worker should not sit idle for minutes) gets ``Throttled`` with
the time it would have waited, and tries again later.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from django.core.cache import cache

_LOCK_SECONDS = 5  # a crashed holder frees the lock after this; holding it costs two cache round trips
_LOCK_POLL = 0.02


class Throttled(Exception):
    """The next free moment is more than the caller may wait; ``retry_after`` seconds is a fair time to retry."""

    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(f"{name}: no request slot within the wait allowed; retry in {retry_after:.1f} s")
        self.retry_after = retry_after


def _keys(name: str) -> tuple[str, str, str]:
    return f"throttle:{name}:lock", f"throttle:{name}:next", f"throttle:{name}:pause"


def throttle_wait(
    *,
    name: str,
    interval: float,
    max_wait: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> float:
    """Block until this caller may send one request to ``name``; returns the seconds it waited.

    Wall-clock time (``time.time``) is shared by every machine, unlike a monotonic clock.
    """
    lock_key, next_key, pause_key = _keys(name)
    started = clock()
    if interval <= 0:
        # No spacing, but a server's "wait" still holds.
        pause = float(cache.get(pause_key) or 0.0) - started
        if pause > max_wait:
            raise Throttled(name, pause)
        if pause > 0:
            sleep(pause)
        return clock() - started
    token = uuid.uuid4().hex
    while not cache.add(lock_key, token, timeout=_LOCK_SECONDS):
        if clock() - started > max_wait:
            raise Throttled(name, interval)
        sleep(_LOCK_POLL)
    try:
        now = clock()
        at = max(now, float(cache.get(next_key) or 0.0), float(cache.get(pause_key) or 0.0))
        if at - started > max_wait:
            raise Throttled(name, at - now)
        # Kept a little past the moment it names: after that, "now" is later anyway.
        cache.set(next_key, at + interval, timeout=int(at + interval - now) + 2)
    finally:
        if cache.get(lock_key) == token:
            cache.delete(lock_key)
    if at > now:
        sleep(at - now)
    return clock() - started


def throttle_pause(*, name: str, seconds: float, clock: Callable[[], float] = time.time) -> None:
    """No caller sends to ``name`` for ``seconds`` (the server answered 429 or asked for a pause)."""
    _, _, pause_key = _keys(name)
    until = clock() + seconds
    if float(cache.get(pause_key) or 0.0) < until:
        cache.set(pause_key, until, timeout=int(seconds) + 2)
