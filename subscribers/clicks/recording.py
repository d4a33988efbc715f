"""The redirect's fast path, and the drain that moves recorded clicks into the database.

With Redis (``REDIS_URL``), a click is one ``XADD`` to a Redis stream (``CLICK_STREAM_KEY``): a fraction of a
millisecond, whatever the database is doing. Beat's ``drain_clicks`` task reads the stream in batches and applies
each batch in one transaction that also moves a mark (``ClickStreamMark``) to the last entry it applied; the stream
entry id is the click's id, so a drain that dies after committing and before trimming the stream applies nothing
twice, and a web restart loses nothing (the stream is in Redis). A Redis restart loses the entries not drained yet
unless Redis persists them (AOF): at most ``CLICK_DRAIN_SECONDS`` of clicks with the drain running. While Redis is
unreachable the redirect records in the database instead, slower but not lost.

Without Redis (the embedded default) every click is applied to the database at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from subscribers.clicks.apply import ClickEvent, apply_locked, clicks_apply, locked_mark

logger = logging.getLogger(__name__)

DRAIN_BATCH = 1000
DRAIN_MAX_BATCHES = 200  # one task run applies at most this many batches; the next tick carries on
CLICK_REDIS_TIMEOUT = 0.5  # seconds: a hung Redis must not hold a redirect for long

_CLIENTS: dict[str, Any] = {}


def click_redis() -> Any:
    """A Redis client for the click stream, one per process and URL; None without Redis."""
    url = settings.REDIS_URL
    if not url:
        return None
    client = _CLIENTS.get(url)
    if client is None:
        client = _CLIENTS[url] = redis.Redis.from_url(
            url, socket_timeout=CLICK_REDIS_TIMEOUT, socket_connect_timeout=CLICK_REDIS_TIMEOUT
        )
    return client


# --- Stream entries ------------------------------------------------------------------------------------------


def event_fields(event: ClickEvent) -> dict[str, str]:
    return {
        "s": str(event.subscriber_id),
        "e": str(event.edition_id),
        "p": str(event.paper_id),
        "k": event.kind,
        "t": f"{event.at.timestamp():.3f}",
        "h": "1" if event.head else "0",
        "a": event.agent,
    }


def event_from_fields(fields: dict[bytes, bytes]) -> ClickEvent:
    """The event in a stream entry; ``ValueError``/``KeyError`` for an entry this code did not write."""
    get = {key.decode(): value.decode() for key, value in fields.items()}
    return ClickEvent(
        subscriber_id=int(get["s"]),
        edition_id=int(get["e"]),
        paper_id=int(get["p"]),
        kind=get["k"][:8],
        at=datetime.fromtimestamp(float(get["t"]), tz=UTC),
        head=get["h"] == "1",
        agent=get["a"][:10],
    )


# --- Recording ---------------------------------------------------------------------------------------------


def click_record(event: ClickEvent) -> str:
    """Record one click without ever raising: "stream", "database", or "lost" (Redis and the database both down)."""
    client = click_redis()
    if client is not None:
        try:
            client.xadd(settings.CLICK_STREAM_KEY, event_fields(event))
            return "stream"
        except Exception:
            logger.warning("click stream unreachable: recording the click in the database", exc_info=True)
    try:
        clicks_apply(events=[event])
        return "database"
    except DatabaseError:
        logger.exception("click lost: neither the click stream nor the database took it", extra=_log(event))
        return "lost"


def _log(event: ClickEvent) -> dict[str, object]:
    return {"edition_id": event.edition_id, "subscriber_id": event.subscriber_id, "paper_id": event.paper_id}


# --- Draining ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class DrainResult:
    entries: int = 0
    applied: int = 0
    dropped: int = 0
    malformed: int = 0
    new_readers: int = 0


def clicks_drain(*, batch_size: int = DRAIN_BATCH, max_batches: int = DRAIN_MAX_BATCHES) -> DrainResult:
    """Apply the stream's entries after the mark, a batch per transaction; a no-op without Redis."""
    result = DrainResult()
    client = click_redis()
    if client is None:
        return result
    key = settings.CLICK_STREAM_KEY
    for _ in range(max_batches):
        with transaction.atomic():
            mark = locked_mark(key)
            entries = client.xrange(key, min=f"({mark.last_id}", count=batch_size)
            if not entries:
                break
            events: list[ClickEvent] = []
            for entry_id, fields in entries:
                try:
                    events.append(event_from_fields(fields))
                except (KeyError, ValueError, UnicodeDecodeError):
                    result.malformed += 1
                    logger.error("click stream entry %r is not a click: skipped", entry_id)
            applied = apply_locked(events)
            mark.last_id = entries[-1][0].decode()
            mark.drained_at = timezone.now()
            mark.save(update_fields=["last_id", "drained_at"])
        result.entries += len(entries)
        result.applied += applied.applied
        result.dropped += applied.dropped
        result.new_readers += applied.new_readers
        # Entries before the mark are applied and committed; the mark's own entry goes with the next trim.
        client.xtrim(key, minid=mark.last_id, approximate=False)
        if len(entries) < batch_size:
            break
    return result
