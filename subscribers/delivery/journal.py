"""The send journal: what one claim (one chunk run) has handed to the ESP, written as it happens.

Why it exists is in the package docstring. Each message's record is written before the message goes to the ESP and
is stored when the write returns, so the journal is never behind the ESP by more than the message in flight.

It lives in Redis when ``REDIS_URL`` is set, through redis-py's client (plain commands, and a pipeline when two
keys are written at once: one round trip), under keys of its own that no cache prefix or eviction of the Django
cache touches, so the sweep in one process reads what a chunk in another wrote. Without Redis (the embedded setup,
one machine) it goes through the Django cache, which is the file cache shared by the local processes.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from typing import Protocol

import redis
from django.conf import settings
from django.core.cache import cache

# Journal entries outlive any sweep interval by far; they are deleted once a chunk is recorded.
JOURNAL_TTL_SECONDS = 2 * 24 * 3600


class JournalStore(Protocol):
    """Where journal entries are kept: a write either stores every value or raises."""

    def write(self, values: Mapping[str, str]) -> None: ...

    def read(self, keys: Sequence[str]) -> list[str | None]: ...

    def delete(self, keys: Sequence[str]) -> None: ...


class RedisStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def write(self, values: Mapping[str, str]) -> None:
        if len(values) == 1:
            [(key, value)] = values.items()
            self.client.set(key, value, ex=JOURNAL_TTL_SECONDS)
            return
        pipe = self.client.pipeline(transaction=False)
        for key, value in values.items():
            pipe.set(key, value, ex=JOURNAL_TTL_SECONDS)
        pipe.execute()  # raises the first error Redis answered (a read-only replica, out of memory)

    def read(self, keys: Sequence[str]) -> list[str | None]:
        return list(self.client.mget(list(keys)))

    def delete(self, keys: Sequence[str]) -> None:
        self.client.delete(*keys)


class CacheStore:
    def write(self, values: Mapping[str, str]) -> None:
        failed = cache.set_many(dict(values), timeout=JOURNAL_TTL_SECONDS)
        if failed:
            raise ConnectionError(f"the send journal could not store {failed}")

    def read(self, keys: Sequence[str]) -> list[str | None]:
        found = cache.get_many(list(keys))
        return [None if found.get(key) is None else str(found[key]) for key in keys]

    def delete(self, keys: Sequence[str]) -> None:
        cache.delete_many(list(keys))


@functools.cache
def _redis_client(url: str) -> redis.Redis:
    # Short timeouts: a chunk that cannot write its journal stops before the ESP, and is retried later.
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5, decode_responses=True)


def journal_store() -> JournalStore:
    return RedisStore(_redis_client(settings.REDIS_URL)) if settings.REDIS_URL else CacheStore()


class SendJournal:
    """The journal of the claim ``token``: the delivery in flight (with a heartbeat) and the ESP id of each send."""

    def __init__(self, token: str, *, store: JournalStore | None = None) -> None:
        self.token = token
        self.inflight_key = f"sendjournal:{token}:inflight"
        self.store = store or journal_store()

    def sent_key(self, delivery_id: int) -> str:
        return f"sendjournal:{self.token}:sent:{delivery_id}"

    def mark(self, *, inflight: int | None, sent: tuple[int, str] | None = None, at: float | None = None) -> None:
        """Record the previous send and the one about to start, in one round trip; doubles as the heartbeat.

        Returns once both are stored, and raises if they were not: then the message must not go out.
        """
        values = {self.inflight_key: f"{inflight or 0}:{time.time() if at is None else at}"}
        if sent is not None:
            values[self.sent_key(sent[0])] = sent[1]
        self.store.write(values)

    def inflight(self) -> tuple[int | None, float] | None:
        """(the delivery in flight or None between messages, when the journal was last written), or None if gone."""
        [value] = self.store.read([self.inflight_key])
        if not value:
            return None
        delivery_id, _, stamp = value.partition(":")
        return (int(delivery_id) or None, float(stamp))

    def sent(self, delivery_ids: Sequence[int]) -> dict[int, str]:
        """The ESP message id recorded for each of ``delivery_ids`` that was sent."""
        if not delivery_ids:
            return {}
        values = self.store.read([self.sent_key(pk) for pk in delivery_ids])
        return {pk: value for pk, value in zip(delivery_ids, values, strict=True) if value is not None}

    def clear(self, delivery_ids: Sequence[int]) -> None:
        self.store.delete([self.inflight_key, *(self.sent_key(pk) for pk in delivery_ids)])
