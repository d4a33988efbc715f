"""Sending editions exactly once: the daily tick, fan-out, chunk sends, the stalled-delivery sweep.

The database is the source of truth. A ``Delivery`` row (unique per edition x subscriber) is created for every
recipient at fan-out, before any task exists, so a lost task or a dead worker can never make someone be skipped:
the sweep finds the row and enqueues it again. A chunk task claims its rows with ``SELECT ... FOR UPDATE SKIP
LOCKED`` and moves them to ``sending`` under a fresh claim token, so a redelivered task, a second beat or an
operator's re-run finds nothing left to claim.

The one window that cannot be closed (SES has no idempotency key) is a process killed after the ESP accepted a
message and before that was recorded. It is kept to the message in flight by a *send journal* in the cache (Redis
in production): right before each ESP call the chunk writes, in one round trip, which delivery is now in flight
and the ESP message id of the one before. The rows themselves are written once per chunk, so a chunk costs the
same few queries whatever its size. When a claim's journal falls silent for ``NEWSLETTER_STALL_SECONDS`` the sweep
settles it from the journal: recorded sends become ``sent``, the one in flight becomes ``ambiguous`` and the rest
go back to ``queued``. ``NEWSLETTER_RESEND_AMBIGUOUS`` decides whether ambiguous rows are sent again
(at-least-once, the default) or left alone (at-most-once). If the journal itself is gone (Redis lost its data as
well), every unsettled row of that claim is ambiguous: the safe reading, never a silent re-send.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import date as Date
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from anymail.exceptions import AnymailAPIError, AnymailError, AnymailInvalidAddress, AnymailRecipientsRefused
from django.conf import settings
from django.core.cache import cache
from django.core.mail import get_connection
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_ratelimit.core import get_usage

from digest.models import Edition, EditionEntry, Frequency
from digest.rendering import EditionBody, edition_body, edition_snapshot
from digest.trending import EditionFrozenError, edition_build
from subscribers.messages import edition_message
from subscribers.models import Delivery, Subscriber
from subscribers.personal_parts import personal_for_chunk
from subscribers.personalize import NOBODY, Personal

logger = logging.getLogger(__name__)

Status = Delivery.Status

# The ESP took these (later webhooks may move them on); none is ever claimed again.
ACCEPTED_STATUSES = (
    Status.SENT,
    Status.DELIVERED,
    Status.OPENED,
    Status.CLICKED,
    Status.BOUNCED,
    Status.COMPLAINED,
)
SENDABLE_EDITIONS = (Edition.Status.APPROVED, Edition.Status.SENDING, Edition.Status.SENT)
STOPPED_EDITIONS = (Edition.Status.HELD, Edition.Status.CANCELLED)
# A delivery the ESP keeps refusing with transient errors is given up after this many attempts.
MAX_ATTEMPTS = 10
BACKOFF_CAP_SECONDS = 600
# Journal entries outlive any sweep interval by far; they are deleted once a chunk is recorded.
JOURNAL_TTL_SECONDS = 2 * 24 * 3600
# How far back the tick looks for the newest edition: yesterday's daily is what subscribers east of UTC get at
# their morning, last week's weekly serves the whole week; anything older is never sent by the schedule.
LOOKBACK_DAYS = {Frequency.DAILY: 1, Frequency.WEEKLY: 6}


def claimable_statuses() -> tuple[str, ...]:
    if settings.NEWSLETTER_RESEND_AMBIGUOUS:
        return (Status.QUEUED, Status.AMBIGUOUS)
    return (Status.QUEUED,)


def retry_backoff(retries: int) -> float:
    """Exponential backoff with full jitter, so chunks throttled together do not come back together."""
    ceiling = min(BACKOFF_CAP_SECONDS, settings.NEWSLETTER_SEND_RETRY_BACKOFF * 2**retries)
    return random.uniform(0, ceiling)


FAN_OUT_BATCH = 2000


def chunked(ids: Sequence[int], size: int | None = None) -> list[list[int]]:
    size = size or settings.NEWSLETTER_SEND_CHUNK_SIZE
    return [list(ids[start : start + size]) for start in range(0, len(ids), size)]


# --- What an ESP error means ---------------------------------------------------------------------------------


class Outcome(StrEnum):
    RETRY = "retry"  # not accepted, worth trying later (429, 5xx, could not connect)
    IN_DOUBT = "in_doubt"  # the request left and no answer came back: the ESP may have accepted it
    REJECTED = "rejected"  # refused for good (content, policy); the address itself may be fine
    INVALID = "invalid"  # refused for good because of the address: suppress it


_THROTTLING_CODES = {"Throttling", "ThrottlingException", "TooManyRequestsException", "ServiceUnavailable"}
# Raised before a single byte reached the ESP (botocore, requests/urllib3, the socket layer).
_NOT_CONNECTED = {
    "ConnectTimeoutError",
    "ConnectTimeout",
    "EndpointConnectionError",
    "NewConnectionError",
    "ConnectionRefusedError",
    "NameResolutionError",
}


def _http_status(exc: AnymailAPIError) -> int | None:
    if getattr(exc, "status_code", None) is not None:
        return int(exc.status_code)
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore's parsed ClientError response (Amazon SES)
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if status else None
    return None


def _error_code(exc: AnymailAPIError) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify_send_error(exc: AnymailError) -> Outcome:
    if isinstance(exc, AnymailRecipientsRefused | AnymailInvalidAddress):
        return Outcome.INVALID
    if isinstance(exc, AnymailAPIError):
        status = _http_status(exc)
        if status is not None:
            if status == 429 or status >= 500 or _error_code(exc) in _THROTTLING_CODES:
                return Outcome.RETRY
            # A 4xx naming the address (SES: "Illegal address", "Missing final '@domain'") is about the recipient.
            text = str(exc).lower()
            return Outcome.INVALID if "address" in text or "@domain" in text else Outcome.REJECTED
        if any(type(cause).__name__ in _NOT_CONNECTED for cause in _causes(exc)):
            return Outcome.RETRY
        # A read timeout or a connection dropped mid-request: the message may have been accepted.
        return Outcome.IN_DOUBT
    return Outcome.REJECTED


# --- The send journal ----------------------------------------------------------------------------------------


class SendJournal:
    """What one claim has handed to the ESP, written as it happens (see the module docstring).

    On Redis it talks to the server directly, over a connection of its own held for the chunk: each message's
    record is two ``SET``s written in one packet (``begin``), whose answers are read (``confirm``) only right
    before the ESP call, so the round trip overlaps building the message. Nothing reaches the ESP before Redis has
    answered, so the journal is exactly as current as if each write waited. Elsewhere (the embedded file cache) it
    goes through Django's cache, synchronously.
    """

    def __init__(self, token: str) -> None:
        self.token = token
        self.inflight_key = f"sendjournal:{token}:inflight"
        self.redis = _journal_redis()
        self._conn: Any = None
        self._pending = 0  # answers written for and not read yet

    def sent_key(self, delivery_id: int) -> str:
        return f"sendjournal:{self.token}:sent:{delivery_id}"

    def mark(self, *, inflight: int | None, sent: tuple[int, str] | None = None, at: float | None = None) -> None:
        """Record the previous send and the one about to start, in one round trip; doubles as the heartbeat."""
        try:
            self.begin(inflight=inflight, sent=sent, at=at)
            self.confirm()
        finally:
            self.close()

    def begin(self, *, inflight: int | None, sent: tuple[int, str] | None = None, at: float | None = None) -> None:
        """Write what ``mark`` writes without waiting for the answer: call ``confirm`` before the ESP call."""
        self.confirm()  # an earlier record whose message never went out (refused while building) is read first
        values = {self.inflight_key: f"{inflight or 0}:{time.time() if at is None else at}"}
        if sent is not None:
            values[self.sent_key(sent[0])] = sent[1]
        if self.redis is None:
            failed = cache.set_many(values, timeout=JOURNAL_TTL_SECONDS)
            if failed:
                raise ConnectionError(f"the send journal could not store {failed}")
            return
        if self._conn is None:
            self._conn = self.redis.connection_pool.get_connection()
        packet = b"".join(_resp_set(key, value) for key, value in values.items())
        try:
            self._conn.send_packed_command([packet])
        except BaseException:
            self.close(broken=True)
            raise
        self._pending = len(values)

    def confirm(self) -> None:
        """Read the answers to the last ``begin``; raises if Redis did not store it."""
        try:
            while self._pending:
                self._conn.read_response()
                self._pending -= 1
        except BaseException:
            self.close(broken=True)
            raise

    def close(self, *, broken: bool = False) -> None:
        """Give the connection back; one with answers left unread (or that failed) is disconnected first."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if broken or self._pending:
            conn.disconnect()
        self._pending = 0
        self.redis.connection_pool.release(conn)

    def inflight(self) -> tuple[int | None, float] | None:
        value = self.redis.get(self.inflight_key) if self.redis is not None else cache.get(self.inflight_key)
        if not value:
            return None
        delivery_id, _, stamp = (value.decode() if isinstance(value, bytes) else value).partition(":")
        return (int(delivery_id) or None, float(stamp))

    def sent(self, delivery_ids: Sequence[int]) -> dict[int, str]:
        keys = {self.sent_key(pk): pk for pk in delivery_ids}
        if not keys:
            return {}
        if self.redis is not None:
            found = zip(keys, self.redis.mget(list(keys)), strict=True)
            return {keys[key]: value.decode() for key, value in found if value is not None}
        return {keys[key]: str(value) for key, value in cache.get_many(list(keys)).items()}

    def clear(self, delivery_ids: Sequence[int]) -> None:
        keys = [self.inflight_key, *(self.sent_key(pk) for pk in delivery_ids)]
        if self.redis is not None:
            self.redis.delete(*keys)
        else:
            cache.delete_many(keys)


_JOURNAL_TTL = str(JOURNAL_TTL_SECONDS).encode()


def _resp_set(key: str, value: str) -> bytes:
    """``SET key value EX <ttl>`` in the Redis protocol (what redis-py's packer makes, without its overhead)."""
    k, v = key.encode(), value.encode()
    return b"*5\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$2\r\nEX\r\n$%d\r\n%b\r\n" % (
        len(k),
        k,
        len(v),
        v,
        len(_JOURNAL_TTL),
        _JOURNAL_TTL,
    )


_REDIS_CLIENTS: dict[str, Any] = {}


def _journal_redis() -> Any:
    url = settings.REDIS_URL
    if not url:
        return None
    if url not in _REDIS_CLIENTS:
        import redis

        _REDIS_CLIENTS[url] = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    return _REDIS_CLIENTS[url]


# --- Rate limit across workers -------------------------------------------------------------------------------


def _rate() -> tuple[int, int] | None:
    """ESP_RATE_LIMIT (messages/s, may be fractional) as django-ratelimit's (count, seconds) fixed window."""
    per_second = settings.ESP_RATE_LIMIT
    if per_second <= 0:
        return None
    if per_second >= 1:
        return int(per_second), 1
    return 1, max(1, round(1 / per_second))


def esp_rate_limit_wait(*, sleep: Callable[[float], None] = time.sleep) -> None:
    """Block until this process may hand one more message to the ESP; counted on the shared cache."""
    rate = _rate()
    while rate is not None:
        usage = get_usage(None, group="esp-send", key=lambda group, request: "esp", rate=rate, increment=True)
        if usage is None or not usage["should_limit"]:
            return
        if usage["limit"] == 0 and usage["time_left"] == -1:
            raise ConnectionError("the rate-limit counter is unreachable")
        sleep(usage["time_left"] if usage["time_left"] > 0 else 1 - time.time() % 1)


# --- The shared body, once per edition per process ------------------------------------------------------------

_BODIES: OrderedDict[tuple[Any, ...], EditionBody] = OrderedDict()


def body_for(edition: Edition) -> EditionBody:
    """``edition_body`` once per process per built edition (it renders templates and inlines CSS)."""
    key = (edition.pk, edition.built_at, edition.subject, edition.intro, settings.DEFAULT_FROM_EMAIL)
    body = _BODIES.get(key)
    if body is None:
        body = _BODIES[key] = edition_body(edition)
        while len(_BODIES) > 4:
            _BODIES.popitem(last=False)
    return body


def clear_body_cache() -> None:
    _BODIES.clear()


# --- One chunk ------------------------------------------------------------------------------------------------


@dataclass
class ChunkResult:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    ambiguous: int = 0
    released: int = 0
    retry: bool = False
    error: str = ""

    def add(self, other: ChunkResult) -> None:
        # Not "released": a retried chunk releases the same rows again.
        for name in ("sent", "skipped", "failed", "ambiguous"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class _Tally:
    """What happened to each claimed row, kept in memory and written once at the end of the chunk."""

    sent: list[Delivery] = field(default_factory=list)
    settled: list[Delivery] = field(default_factory=list)  # failed, ambiguous, or back to queued after an attempt
    invalid_emails: list[str] = field(default_factory=list)


def _claim(*, edition_id: int, subscriber_ids: Sequence[int], token: str, now: datetime) -> tuple[list[Delivery], int]:
    """Claim this chunk's unsent rows; rows whose subscriber is no longer active are skipped, not sent."""
    with transaction.atomic():
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(edition_id=edition_id, subscriber_id__in=list(subscriber_ids), status__in=claimable_statuses())
            .select_related("subscriber")
            .only(
                "id",
                "attempts",
                "status",
                "subscriber__id",
                "subscriber__email",
                "subscriber__keywords",
                "subscriber__token_key",
                "subscriber__status",
            )
            .order_by("pk")
        )
        mine = [row for row in rows if row.subscriber.status == Subscriber.Status.ACTIVE]
        gone = [row.pk for row in rows if row.subscriber.status != Subscriber.Status.ACTIVE]
        if mine:
            Delivery.objects.filter(pk__in=[row.pk for row in mine]).update(
                status=Status.SENDING, claim_token=token, claimed_at=now
            )
        if gone:
            Delivery.objects.filter(pk__in=gone).update(
                status=Status.SKIPPED, last_error="not sent: the subscriber is no longer active"
            )
    return mine, len(gone)


def _settle(delivery: Delivery, outcome: Outcome, error: str, now: datetime) -> Delivery:
    delivery.attempts += 1
    delivery.last_error = error[:2000]
    if outcome is Outcome.IN_DOUBT:
        delivery.status = Status.AMBIGUOUS
        delivery.ambiguous_at = now
    elif outcome is Outcome.RETRY and delivery.attempts < MAX_ATTEMPTS:
        delivery.status = Status.QUEUED
    else:
        delivery.status = Status.FAILED
    return delivery


def _record_sent_postgresql(*, token: str, rows: list[Delivery]) -> None:
    """One ``UPDATE ... FROM unnest(...)``: bulk_update's CASE per row costs more than the sends themselves, and four
    array parameters cost far less to bind than four parameters per row."""
    table = Delivery._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS d SET status = %s, esp_message_id = v.mid, sent_at = v.sent_at, "  # noqa: S608
            "attempts = v.attempts, last_error = '' "
            "FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], %s::integer[]) AS v(id, mid, sent_at, attempts) "
            "WHERE d.id = v.id AND d.status = %s AND d.claim_token = %s",
            [
                Status.SENT,
                [row.pk for row in rows],
                [row.esp_message_id for row in rows],
                [row.sent_at for row in rows],
                [row.attempts for row in rows],
                Status.SENDING,
                token,
            ],
        )


def _record(*, token: str, tally: _Tally) -> None:
    """Write the chunk's outcome: a fixed handful of statements whatever the chunk size."""
    mine = Delivery.objects.filter(status=Status.SENDING, claim_token=token)
    if tally.sent and connection.vendor == "postgresql":
        _record_sent_postgresql(token=token, rows=tally.sent)
    elif tally.sent:
        mine.bulk_update(tally.sent, ["status", "esp_message_id", "sent_at", "attempts", "last_error"])
    if tally.settled:
        mine.bulk_update(tally.settled, ["status", "attempts", "last_error", "ambiguous_at"])
    # Whatever is still "sending" under this token was never handed to the ESP.
    mine.update(status=Status.QUEUED)


def chunk_send(*, edition_id: int, subscriber_ids: Sequence[int], connection: Any = None) -> ChunkResult:
    """Send ``edition_id`` to those of ``subscriber_ids`` who have not had it. Idempotent; safe to run twice at once.

    Returns what happened; ``retry`` asks the caller to run the chunk again later (the ESP throttled or failed, or
    the journal was unreachable), which only sends what is still unsent.
    """
    result = ChunkResult()
    edition = Edition.objects.filter(pk=edition_id).first()
    if edition is None or edition.status in STOPPED_EDITIONS:
        logger.info("edition %s is gone, held or cancelled: chunk not sent", edition_id)
        return result
    body = body_for(edition)
    token = uuid.uuid4().hex
    journal = SendJournal(token)
    try:
        # Before claiming: a journal that cannot be written must not strand claimed rows.
        journal.mark(inflight=None)
    except Exception as exc:
        logger.warning("send journal unavailable, chunk of edition %s postponed: %s", edition_id, exc)
        return ChunkResult(retry=True, error=f"send journal unavailable: {exc}")
    now = timezone.now()
    rows, result.skipped = _claim(edition_id=edition_id, subscriber_ids=subscriber_ids, token=token, now=now)
    if rows:
        # "For you" and "Still trending" of every reader of the chunk, in a few queries and one scoring step.
        personal = personal_for_chunk(edition=edition, body=body, readers=[row.subscriber for row in rows])
        _send_claimed(rows=rows, body=body, personal=personal, journal=journal, connection=connection, result=result)
    edition_finish_if_done(edition_id=edition_id)
    logger.info(
        "chunk of edition %s: %d sent, %d failed, %d ambiguous, %d skipped, %d released",
        edition_id,
        result.sent,
        result.failed,
        result.ambiguous,
        result.skipped,
        result.released,
        extra={"edition_id": edition_id, "chunk": token, "subscribers": len(subscriber_ids), "retry": result.retry},
    )
    return result


def _log_context(delivery: Delivery, **more: object) -> dict[str, object]:
    """The ``extra=`` of a send log line: JSON logs carry these as fields."""
    return {
        "edition_id": delivery.edition_id,
        "subscriber_id": delivery.subscriber_id,
        "delivery_id": delivery.pk,
        **more,
    }


def _send_claimed(
    *,
    rows: list[Delivery],
    body: EditionBody,
    personal: dict[int, Personal],
    journal: SendJournal,
    connection: Any,
    result: ChunkResult,
) -> None:
    tally = _Tally()
    previous: tuple[int, str] | None = None
    in_flight: Delivery | None = None
    connection = connection or get_connection()
    opened = connection.open()
    gated = _confirm_before_transport(connection, journal)
    # A line per message only when asked for: the Delivery row is the record, and this is the hot path.
    log_each = logger.isEnabledFor(logging.DEBUG)
    try:
        for delivery in rows:
            try:
                _journal_begin(journal, inflight=delivery.pk, sent=previous)
                # Redis answers while the message (and, gated, the ESP payload) is built; the answer is read before
                # anything reaches the ESP.
                mine = personal.get(delivery.subscriber_id, NOBODY)
                message = edition_message(body, delivery.subscriber, personal=mine, connection=connection)
                in_flight = delivery
                if not gated:
                    _journal_confirm(journal)
                message.send()
            except _JournalUnavailable as exc:
                # Nothing is in flight (the record was not stored, so the message did not go out): this row and the
                # rest simply go back to the queue.
                in_flight = None
                logger.warning(
                    "send journal or rate limiter unavailable, pausing the chunk: %s", exc, extra=_log_context(delivery)
                )
                result.retry, result.error = True, f"send journal or rate limiter unavailable: {exc}"
                break
            except AnymailError as exc:
                in_flight = None
                outcome = classify_send_error(exc)
                logger.warning(
                    "ESP refused edition %s to subscriber %s (%s): %s",
                    delivery.edition_id,
                    delivery.subscriber_id,
                    outcome.value,
                    exc,
                    extra=_log_context(delivery, outcome=outcome.value),
                )
                tally.settled.append(_settle(delivery, outcome, str(exc), timezone.now()))
                if outcome is Outcome.INVALID:
                    tally.invalid_emails.append(delivery.subscriber.email)
                if outcome in (Outcome.RETRY, Outcome.IN_DOUBT):
                    # Back off the whole chunk: the next message would most likely meet the same answer.
                    result.retry, result.error = True, str(exc)[:500]
                    break
                continue
            in_flight = None
            status = message.anymail_status
            delivery.status = Status.SENT
            delivery.esp_message_id = "" if status.message_id is None else str(status.message_id)[:200]
            delivery.sent_at = timezone.now()
            delivery.attempts += 1
            delivery.last_error = ""
            tally.sent.append(delivery)
            previous = (delivery.pk, delivery.esp_message_id)
            if log_each:
                logger.debug(
                    "sent edition %s to subscriber %s",
                    delivery.edition_id,
                    delivery.subscriber_id,
                    extra=_log_context(delivery, esp_message_id=delivery.esp_message_id),
                )
    finally:
        if in_flight is not None:
            # Interrupted inside the ESP call (soft time limit, a bug): its fate is unknown.
            logger.warning("interrupted while the ESP call ran: ambiguous", extra=_log_context(in_flight))
            tally.settled.append(
                _settle(in_flight, Outcome.IN_DOUBT, "interrupted while the ESP call ran", timezone.now())
            )
        if gated:
            del connection.post_to_esp  # the backend's own method again
        journal.close()
        if opened:
            connection.close()
        _record(token=journal.token, tally=tally)
        # Only once the rows hold the outcome; a leftover journal would merely expire.
        _quietly(lambda: journal.clear([row.pk for row in rows]))
    _suppress_invalid(tally.invalid_emails)
    result.sent += len(tally.sent)
    for row in tally.settled:
        if row.status == Status.FAILED:
            result.failed += 1
        elif row.status == Status.AMBIGUOUS:
            result.ambiguous += 1
    result.released += len(rows) - len(tally.sent) - len(tally.settled)


class _JournalUnavailable(Exception):
    """The journal did not store the record of the message about to go out, so it did not go out."""


def _confirm_before_transport(connection: Any, journal: SendJournal) -> bool:
    """Have an Anymail backend read the journal's answer right before its ESP call, after building the payload.

    Both the message and the ESP payload are then built while Redis answers. Returns False for a backend without
    ``post_to_esp`` (not Anymail): the caller confirms before ``send()`` instead.
    """
    post = getattr(connection, "post_to_esp", None)
    if post is None or "post_to_esp" in vars(connection):
        return False

    def post_to_esp(payload: Any, message: Any) -> Any:
        _journal_confirm(journal)
        return post(payload, message)

    connection.post_to_esp = post_to_esp
    return True


def _journal_begin(journal: SendJournal, *, inflight: int, sent: tuple[int, str] | None) -> None:
    try:
        esp_rate_limit_wait()
        journal.begin(inflight=inflight, sent=sent)
    except Exception as exc:
        raise _JournalUnavailable(str(exc)) from exc


def _journal_confirm(journal: SendJournal) -> None:
    try:
        journal.confirm()
    except Exception as exc:
        raise _JournalUnavailable(str(exc)) from exc


def _quietly(fn: Callable[[], object]) -> bool:
    try:
        fn()
    except Exception:
        return False
    return True


def _suppress_invalid(emails: list[str]) -> None:
    from subscribers.services import subscriber_suppress

    for email in emails:
        subscriber_suppress(email=email, reason="invalid")


def edition_finish_if_done(*, edition_id: int) -> bool:
    """Mark the edition sent once none of its deliveries is waiting or in flight."""
    waiting = (*claimable_statuses(), Status.SENDING)
    if Delivery.objects.filter(edition_id=edition_id, status__in=waiting).exists():
        return False
    count = Delivery.objects.filter(edition_id=edition_id, status__in=ACCEPTED_STATUSES).count()
    return bool(
        Edition.objects.filter(pk=edition_id, status=Edition.Status.SENDING).update(
            status=Edition.Status.SENT, sent_at=timezone.now(), recipient_count=count
        )
    )


# --- Fan-out --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """Chunks of subscriber ids of one edition, each to be sent by one chunk task."""

    edition_id: int
    chunks: list[list[int]]

    @property
    def size(self) -> int:
        return sum(len(chunk) for chunk in self.chunks)


def deliveries_fan_out(*, edition: Edition, subscriber_ids: Sequence[int], now: datetime) -> Batch:
    """Create the rows (existing ones are left alone) and mark the edition as sending; the chunks to enqueue."""
    if not subscriber_ids:
        return Batch(edition_id=edition.pk, chunks=[])
    # bulk_create makes a list of whatever it is given: batches keep a million-row fan-out to 2,000 objects at once.
    for batch in chunked(subscriber_ids, FAN_OUT_BATCH):
        Delivery.objects.bulk_create(
            [Delivery(edition_id=edition.pk, subscriber_id=pk, enqueued_at=now) for pk in batch],
            ignore_conflicts=True,
        )
    # The archive shows what the first recipients got, however the papers are edited afterwards.
    edition_snapshot(edition)
    Edition.objects.filter(
        pk=edition.pk, status__in=(Edition.Status.DRAFT, Edition.Status.APPROVED, Edition.Status.SENT)
    ).update(status=Edition.Status.SENDING, send_started_at=Coalesce(F("send_started_at"), now))
    return Batch(edition_id=edition.pk, chunks=chunked(subscriber_ids))


# --- The schedule ---------------------------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def subscriber_due(*, time_zone: str, now: datetime, edition_date: Date) -> bool:
    """Is it the subscriber's morning (send hour, plus catch-up hours) on or after the edition's day, locally?"""
    local = now.astimezone(_zone(time_zone))
    start = settings.NEWSLETTER_SEND_HOUR
    return local.date() >= edition_date and start <= local.hour < start + settings.NEWSLETTER_SEND_CATCHUP_HOURS


def edition_build_if_due(*, frequency: str, now: datetime) -> Edition | None:
    """Build today's (UTC) edition at the send hour if it does not exist yet; approve it when no approval is needed."""
    today = now.astimezone(UTC).date()
    if now.astimezone(UTC).hour < settings.NEWSLETTER_SEND_HOUR:
        return None
    if frequency == Frequency.WEEKLY and today.weekday() != settings.NEWSLETTER_WEEKLY_WEEKDAY:
        return None
    edition = Edition.objects.filter(date=today, frequency=frequency).first()
    if edition is None:
        try:
            edition = edition_build(date=today, frequency=frequency)
        except EditionFrozenError as exc:  # a concurrent tick built and approved it first
            edition = exc.edition
        logger.info("built %s", edition)
    if not settings.NEWSLETTER_APPROVAL_REQUIRED and edition.status == Edition.Status.DRAFT:
        Edition.objects.filter(pk=edition.pk, status=Edition.Status.DRAFT).update(
            status=Edition.Status.APPROVED, approved_at=now
        )
        edition.refresh_from_db()
    return edition


def newest_sendable_edition(*, frequency: str, now: datetime) -> Edition | None:
    today = now.astimezone(UTC).date()
    edition = (
        Edition.objects.filter(
            frequency=frequency,
            status__in=SENDABLE_EDITIONS,
            date__lte=today,
            date__gte=today - timedelta(days=LOOKBACK_DAYS[frequency]),
        )
        .order_by("-date")
        .first()
    )
    if edition is not None and not EditionEntry.objects.filter(edition=edition).exists():
        logger.warning("%s has no papers: not sending an empty newsletter", edition)
        return None
    return edition


def due_subscriber_ids(*, edition: Edition, now: datetime) -> list[int]:
    """Active subscribers of the edition's frequency whose morning it is and who have no delivery of it yet."""
    base = Subscriber.objects.filter(status=Subscriber.Status.ACTIVE, frequency=edition.frequency)
    zones = set(base.order_by().values_list("time_zone", flat=True).distinct())
    due_zones = [zone for zone in zones if subscriber_due(time_zone=zone, now=now, edition_date=edition.date)]
    if not due_zones:
        return []
    had_it = Delivery.objects.filter(edition=edition, subscriber=OuterRef("pk"))
    return list(
        base.filter(time_zone__in=due_zones).exclude(Exists(had_it)).order_by("pk").values_list("pk", flat=True)
    )


def newsletter_tick(*, now: datetime) -> list[Batch]:
    """One beat tick: build today's editions when due, and fan out the newest to everyone whose morning it is."""
    batches: list[Batch] = []
    for frequency in (Frequency.DAILY, Frequency.WEEKLY):
        edition_build_if_due(frequency=frequency, now=now)
        edition = newest_sendable_edition(frequency=frequency, now=now)
        if edition is None:
            continue
        ids = due_subscriber_ids(edition=edition, now=now)
        if ids:
            batches.append(deliveries_fan_out(edition=edition, subscriber_ids=ids, now=now))
            logger.info("fanned out %s to %d subscribers", edition, len(ids))
    return batches


# --- The sweep ------------------------------------------------------------------------------------------------


@dataclass
class SweepResult:
    settled_sent: int = 0
    ambiguous: int = 0
    requeued: int = 0
    batches: list[Batch] = field(default_factory=list)


def _settle_dead_claim(*, token: str, now: datetime, result: SweepResult) -> None:
    journal = SendJournal(token)
    inflight = journal.inflight()
    stall = settings.NEWSLETTER_STALL_SECONDS
    if inflight is not None and time.time() - inflight[1] < stall:
        return  # the chunk is alive and sending
    mine = Delivery.objects.filter(status=Status.SENDING, claim_token=token)
    rows = list(mine.only("id", "attempts"))
    recorded = journal.sent([row.pk for row in rows])
    sent, ambiguous = [], []
    for row in rows:
        if row.pk in recorded:
            row.status, row.esp_message_id, row.sent_at = Status.SENT, recorded[row.pk][:200], now
            row.attempts += 1
            sent.append(row)
        elif inflight is None or row.pk == inflight[0]:
            # The process died in the ESP call, or the journal is gone and nobody can tell: unknown.
            ambiguous.append(row.pk)
    if sent:
        mine.bulk_update(sent, ["status", "esp_message_id", "sent_at", "attempts"])
    if ambiguous:
        mine.filter(pk__in=ambiguous).update(
            status=Status.AMBIGUOUS,
            ambiguous_at=now,
            attempts=F("attempts") + 1,
            last_error="the worker died while the ESP call was in flight",
            enqueued_at=None,  # no task holds it any more: the sweep's second half enqueues it at once
        )
    requeued = mine.update(status=Status.QUEUED, enqueued_at=None)
    _quietly(lambda: journal.clear([row.pk for row in rows]))
    result.settled_sent += len(sent)
    result.ambiguous += len(ambiguous)
    logger.warning(
        "settled dead claim %s: %d sent, %d ambiguous, %d back in the queue", token, len(sent), len(ambiguous), requeued
    )


def settle_dead_claims(
    *, now: datetime, claimed_before: datetime, edition_id: int | None = None, result: SweepResult | None = None
) -> SweepResult:
    """Settle every claim made before ``claimed_before`` whose send journal has gone silent (its worker died)."""
    result = result or SweepResult()
    claims = Delivery.objects.filter(status=Status.SENDING, claimed_at__lt=claimed_before)
    if edition_id is not None:
        claims = claims.filter(edition_id=edition_id)
    for token in set(claims.values_list("claim_token", flat=True)):
        _settle_dead_claim(token=token, now=now, result=result)
    return result


def deliveries_sweep(*, now: datetime, edition_id: int | None = None) -> SweepResult:
    """Settle claims whose worker died, and hand back the rows whose task seems lost, as batches to enqueue."""
    result = SweepResult()
    stale_before = now - timedelta(seconds=settings.NEWSLETTER_STALL_SECONDS)
    settle_dead_claims(now=now, claimed_before=stale_before, edition_id=edition_id, result=result)

    waiting = Delivery.objects.filter(status__in=claimable_statuses()).exclude(edition__status__in=STOPPED_EDITIONS)
    if edition_id is not None:
        waiting = waiting.filter(edition_id=edition_id)
    lost = waiting.filter(enqueued_at__lt=stale_before) | waiting.filter(enqueued_at__isnull=True)
    by_edition: dict[int, list[int]] = {}
    for ed_id, subscriber_id in lost.order_by("edition_id", "subscriber_id").values_list("edition_id", "subscriber_id"):
        by_edition.setdefault(ed_id, []).append(subscriber_id)
    for ed_id, ids in by_edition.items():
        Delivery.objects.filter(edition_id=ed_id, subscriber_id__in=ids, status__in=claimable_statuses()).update(
            enqueued_at=now
        )
        result.batches.append(Batch(edition_id=ed_id, chunks=chunked(ids)))
        result.requeued += len(ids)
    # An edition whose last rows were settled here (no chunk will run for them) is finished now.
    for ed_id in set(Edition.objects.filter(status=Edition.Status.SENDING).values_list("pk", flat=True)) - set(
        by_edition
    ):
        edition_finish_if_done(edition_id=ed_id)
    return result


# --- The operator's send --------------------------------------------------------------------------------------


@dataclass
class SendPlan:
    edition: Edition
    new_recipients: int
    waiting: int  # rows already created and not yet sent (an interrupted send, a lost task)
    approval_pending: bool


def edition_send_plan(*, edition: Edition) -> SendPlan:
    """Who an operator's ``send_edition`` would send to now, without changing anything."""
    had_it = Delivery.objects.filter(edition=edition, subscriber=OuterRef("pk"))
    new = (
        Subscriber.objects.filter(status=Subscriber.Status.ACTIVE, frequency=edition.frequency)
        .exclude(Exists(had_it))
        .count()
    )
    waiting = Delivery.objects.filter(
        edition=edition, status__in=(*claimable_statuses(), Status.SENDING), subscriber__status=Subscriber.Status.ACTIVE
    ).count()
    return SendPlan(
        edition=edition,
        new_recipients=new,
        waiting=waiting,
        approval_pending=edition.status not in SENDABLE_EDITIONS,
    )


def edition_send_prepare(*, edition: Edition, now: datetime) -> Batch:
    """Settle dead claims, fan out to every active subscriber without a row, and chunk every unsent row.

    Ignores the send hour and time zones: the operator asked for this edition now. Re-running it sends only what
    is still unsent.
    """
    if edition.status in STOPPED_EDITIONS:
        raise ValueError(f"{edition} is {edition.status}: release it before sending")
    # Any claim, however recent, whose journal is silent: the operator re-runs after a crash without waiting.
    settle_dead_claims(now=now, claimed_before=now, edition_id=edition.pk)
    had_it = Delivery.objects.filter(edition=edition, subscriber=OuterRef("pk"))
    new_ids = list(
        Subscriber.objects.filter(status=Subscriber.Status.ACTIVE, frequency=edition.frequency)
        .exclude(Exists(had_it))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    deliveries_fan_out(edition=edition, subscriber_ids=new_ids, now=now)
    ids = list(
        Delivery.objects.filter(edition=edition, status__in=claimable_statuses())
        .order_by("subscriber_id")
        .values_list("subscriber_id", flat=True)
    )
    return Batch(edition_id=edition.pk, chunks=chunked(ids))


def edition_send_now(
    *,
    edition: Edition,
    now: datetime,
    on_chunk: Callable[[ChunkResult, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ChunkResult:
    """Send ``edition`` in this process, chunk after chunk over one connection each, retrying throttled chunks."""
    batch = edition_send_prepare(edition=edition, now=now)
    total = ChunkResult()
    for chunk in batch.chunks:
        for attempt in range(settings.NEWSLETTER_SEND_MAX_RETRIES + 1):
            result = chunk_send(edition_id=edition.pk, subscriber_ids=chunk)
            total.add(result)
            if not result.retry:
                break
            if attempt < settings.NEWSLETTER_SEND_MAX_RETRIES:
                sleep(retry_backoff(attempt))
        else:
            total.retry, total.error = True, result.error
        if on_chunk is not None:
            on_chunk(result, len(chunk))
    edition_finish_if_done(edition_id=edition.pk)
    return total
