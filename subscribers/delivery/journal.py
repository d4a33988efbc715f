"""The send journal: what one claim (one chunk run) has handed to the ESP, written as it happens.

Why it exists is in the package docstring. Each message's record is written before the message goes to the ESP and
is stored when the write returns, so the journal is never behind the ESP by more than the message in flight.

A claim's journal is a handful of fields: ``inflight`` (the delivery being handed to the ESP, or 0 between
messages, and when it was written: the heartbeat) and ``sent:<delivery id>`` (the ESP's message id of each send).
With ``REDIS_URL`` set they are one Redis hash per claim, written through redis-py's client: a message's record is
one ``HSET`` of two fields, one round trip, atomic; the hash's time to live is set with the journal's first write.
It lives under a key of its own that no cache prefix or eviction of the Django cache touches, so the sweep in one
process reads what a chunk in another wrote. Without Redis (the embedded setup, one machine) each field is a key of
the Django cache, the file cache shared by the local processes.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import redis
from django.conf import settings
from django.core.cache import cache

# Journal entries outlive any sweep interval by far; they are deleted once a chunk is recorded.
JOURNAL_TTL_SECONDS = 2 * 24 * 3600
INFLIGHT = "inflight"


Wait = Callable[[], None]


def _stored() -> None:
    """The wait of a write that had returned already."""


class JournalStore(Protocol):
    """Where a claim's journal fields are kept. ``write`` returns once every field is stored, or raises;
    ``write_start`` sends the write and returns what waits for its answer (returns once stored, or raises)."""

    def write(self, token: str, fields: Mapping[str, str], *, first: bool) -> None: ...

    def write_start(self, token: str, fields: Mapping[str, str], *, first: bool) -> Wait: ...

    def read(self, token: str, names: Sequence[str]) -> list[str | None]: ...

    def delete(self, token: str, names: Sequence[str]) -> None: ...


class RedisStore:
    """One hash per claim, through redis-py's client."""

    def __init__(self, url: str) -> None:
        self.url = url

    @property
    def client(self) -> redis.Redis:
        # Made on first use, so a Redis that cannot be reached fails the write (the chunk then waits), not the setup.
        return _redis_client(self.url, os.getpid())

    @staticmethod
    def key(token: str) -> str:
        return f"sendjournal:{token}"

    def write(self, token: str, fields: Mapping[str, str], *, first: bool) -> None:
        # A hash Redis lost (a restart) and a later write made again has no time to live; the chunk deletes it when
        # it has recorded its rows, or the sweep when it settles the claim.
        if not first:
            self.client.hset(self.key(token), items=_flat(fields))
            return
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(self.key(token), items=_flat(fields))
        pipe.expire(self.key(token), JOURNAL_TTL_SECONDS)
        pipe.execute()  # raises the first error Redis answered (a read-only replica, out of memory)

    def write_start(self, token: str, fields: Mapping[str, str], *, first: bool) -> Wait:
        # The HSET goes out on the client's own connection and its answer is read by the wait: the caller builds
        # the next message during the round trip. Either half raises as ``write`` would (``read_response`` raises
        # the error Redis answered: a read-only replica, out of memory), and redis-py drops the connection on any
        # exception in either, so a half-read answer is never taken for the next command's.
        if first:
            self.write(token, fields, first=True)
            return _stored
        connection = self.client.connection
        assert connection is not None  # a single-connection client holds one from the start
        connection.send_command("HSET", self.key(token), *_flat(fields))
        return connection.read_response

    def read(self, token: str, names: Sequence[str]) -> list[str | None]:
        values = self.client.hmget(self.key(token), list(names))
        return [value.decode() if isinstance(value, bytes) else value for value in values]

    def delete(self, token: str, names: Sequence[str]) -> None:
        self.client.delete(self.key(token))


def _flat(fields: Mapping[str, str]) -> list[str]:
    """``HSET key f1 v1 f2 v2``'s arguments after the key."""
    return [part for pair in fields.items() for part in pair]


class CacheStore:
    """A cache key per field (the Django cache has no hashes)."""

    @staticmethod
    def key(token: str, name: str) -> str:
        return f"sendjournal:{token}:{name}"

    def write(self, token: str, fields: Mapping[str, str], *, first: bool) -> None:
        failed = cache.set_many({self.key(token, name): value for name, value in fields.items()}, JOURNAL_TTL_SECONDS)
        if failed:
            raise ConnectionError(f"the send journal could not store {failed}")

    def write_start(self, token: str, fields: Mapping[str, str], *, first: bool) -> Wait:
        self.write(token, fields, first=first)
        return _stored

    def read(self, token: str, names: Sequence[str]) -> list[str | None]:
        found = cache.get_many([self.key(token, name) for name in names])
        return [None if (value := found.get(self.key(token, name))) is None else str(value) for name in names]

    def delete(self, token: str, names: Sequence[str]) -> None:
        cache.delete_many([self.key(token, name) for name in names])


@functools.cache
def _redis_client(url: str, pid: int) -> redis.Redis:
    """One client per process (``pid``: a forked worker makes its own), holding one connection of its own.

    ``single_connection_client`` spares each write a checkout from the connection pool and its return: the journal
    writes once per message, and that bookkeeping cost as much as a third of the round trip. Short timeouts: a
    chunk that cannot write its journal stops before the ESP, and is retried later.
    """
    return redis.Redis.from_url(
        url, socket_timeout=5, socket_connect_timeout=5, decode_responses=True, single_connection_client=True
    )


def journal_store() -> JournalStore:
    return RedisStore(settings.REDIS_URL) if settings.REDIS_URL else CacheStore()


def _sent(delivery_id: int) -> str:
    return f"sent:{delivery_id}"


class SendJournal:
    """The journal of the claim ``token``: the delivery in flight (with a heartbeat) and the ESP id of each send."""

    def __init__(self, token: str, *, store: JournalStore | None = None) -> None:
        self.token = token
        self.store = store or journal_store()
        self._written = False

    def mark(self, *, inflight: int | None, sent: tuple[int, str] | None = None, at: float | None = None) -> None:
        """Record the previous send and the one about to start, in one round trip; doubles as the heartbeat.

        Returns once both are stored, and raises if they were not: then the message must not go out.
        """
        self.mark_start(inflight=inflight, sent=sent, at=at)()

    def mark_start(self, *, inflight: int | None, sent: tuple[int, str] | None = None, at: float | None = None) -> Wait:
        """``mark`` in two halves: the record is sent now, and the returned wait returns once it is stored (or
        raises). The message must not go out before the wait has returned."""
        fields = {INFLIGHT: f"{inflight or 0}:{time.time() if at is None else at}"}
        if sent is not None:
            fields[_sent(sent[0])] = sent[1]
        wait = self.store.write_start(self.token, fields, first=not self._written)
        self._written = True
        return wait

    def inflight(self) -> tuple[int | None, float] | None:
        """(the delivery in flight or None between messages, when the journal was last written), or None if gone."""
        [value] = self.store.read(self.token, [INFLIGHT])
        if not value:
            return None
        delivery_id, _, stamp = value.partition(":")
        return (int(delivery_id) or None, float(stamp))

    def sent(self, delivery_ids: Sequence[int]) -> dict[int, str]:
        """The ESP message id recorded for each of ``delivery_ids`` that was sent."""
        if not delivery_ids:
            return {}
        values = self.store.read(self.token, [_sent(pk) for pk in delivery_ids])
        return {pk: value for pk, value in zip(delivery_ids, values, strict=True) if value is not None}

    def clear(self, delivery_ids: Sequence[int]) -> None:
        self.store.delete(self.token, [INFLIGHT, *(_sent(pk) for pk in delivery_ids)])
