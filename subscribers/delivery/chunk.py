"""One chunk: claim its unsent rows, send each over one ESP connection with the journal a step ahead, record.

``chunk_send`` is idempotent and safe to run twice at once: the claim (``SELECT ... FOR UPDATE SKIP LOCKED``, then
``sending`` under a fresh token) gives each row to one run only. Each message goes out only once the send journal
holds it as the one in flight, together with the ESP id of the one before (see ``subscribers.delivery``).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from anymail.exceptions import AnymailError
from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.utils import timezone

from digest.edition_states import STOPPED
from digest.models import Edition
from digest.rendering import EditionBody
from subscribers.brake import brake_enforce
from subscribers.delivery.body import body_for
from subscribers.delivery.dbretry import with_db_retry
from subscribers.delivery.esp_errors import Outcome, classify
from subscribers.delivery.journal import SendJournal, Wait
from subscribers.delivery.queries import claimable_statuses
from subscribers.delivery.ratelimit import esp_rate_limit_wait
from subscribers.delivery.record import Tally, chunk_record, edition_finish_if_done, suppress_invalid
from subscribers.messages import edition_message
from subscribers.models import Delivery, Subscriber
from subscribers.personal_parts import personal_for_chunk
from subscribers.personalize import NOBODY, Personal

logger = logging.getLogger(__name__)

Status = Delivery.Status


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


def chunk_claim(*, edition_id: int, first: int, last: int, token: str, now: datetime) -> tuple[list[Delivery], int]:
    """Claim the unsent rows of the chunk ``first``..``last`` (subscriber ids, inclusive), at most a chunk's size;
    rows whose subscriber is no longer active are skipped, not sent.

    The cap keeps a chunk's time bounded when a later fan-out put more rows into an old chunk's range (time zones
    interleave ids): whatever it leaves has a chunk of its own, or the sweep's.
    """
    with transaction.atomic():
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                edition_id=edition_id,
                subscriber_id__gte=first,
                subscriber_id__lte=last,
                status__in=claimable_statuses(),
            )
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
            # The (edition, subscriber) unique index walks the range in order.
            .order_by("subscriber_id")[: settings.NEWSLETTER_SEND_CHUNK_SIZE]
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


def chunk_send(*, edition_id: int, first: int, last: int, connection: Any = None, force: bool = False) -> ChunkResult:
    """Send ``edition_id`` to the subscribers ``first``..``last`` (ids, inclusive) whose row is waiting.
    Idempotent; safe to run twice at once.

    Returns what happened; ``retry`` asks the caller to run the chunk again later (the ESP throttled or failed, or
    the journal was unreachable), which only sends what is still unsent. ``force``: an operator's send despite the
    complaint-rate brake.
    """
    result = ChunkResult()
    edition = with_db_retry(lambda: Edition.objects.filter(pk=edition_id).first(), what="reading the edition")
    if edition is None or edition.status in STOPPED:
        logger.info("edition %s is gone, held or cancelled: chunk not sent", edition_id)
        return result
    # Checked before every chunk, so a send in progress stops at its next chunk when the brake trips; the rows
    # stay queued for after a curator resumes.
    # Through a database hiccup too: a chunk task failing here would leave its rows to the sweep's stall time.
    if not force and with_db_retry(lambda: brake_enforce(now=timezone.now()), what="the brake's check").paused:
        logger.warning("sending is paused by the complaint-rate brake: chunk of edition %s not sent", edition_id)
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
    rows, result.skipped = with_db_retry(
        lambda: chunk_claim(edition_id=edition_id, first=first, last=last, token=token, now=now),
        what="the claim",
    )
    if rows:
        # "For you" and "Still trending" of every reader of the chunk, in a few queries and one scoring step.
        personal = personal_for_chunk(edition=edition, body=body, readers=[row.subscriber for row in rows])
        _send_claimed(rows=rows, body=body, personal=personal, journal=journal, connection=connection, result=result)
    with_db_retry(lambda: edition_finish_if_done(edition_id=edition_id), what="finishing the edition")
    logger.info(
        "chunk of edition %s: %d sent, %d failed, %d ambiguous, %d skipped, %d released",
        edition_id,
        result.sent,
        result.failed,
        result.ambiguous,
        result.skipped,
        result.released,
        extra={
            "edition_id": edition_id,
            "chunk": token,
            "subscribers": len(rows) + result.skipped,
            "first": first,
            "last": last,
            "retry": result.retry,
        },
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


class _JournalUnavailable(Exception):
    """The journal did not store the record of the message about to go out, so it did not go out."""


def _journal_mark_start(journal: SendJournal, *, inflight: int, sent: tuple[int, str] | None) -> Wait:
    try:
        esp_rate_limit_wait()
        return journal.mark_start(inflight=inflight, sent=sent)
    except Exception as exc:
        raise _JournalUnavailable(str(exc)) from exc


def _journal_wait(wait: Wait) -> None:
    try:
        wait()
    except Exception as exc:
        raise _JournalUnavailable(str(exc)) from exc


def _built_while_journal_writes(
    journal: SendJournal,
    delivery: Delivery,
    *,
    sent: tuple[int, str] | None,
    body: EditionBody,
    personal: Personal,
    connection: Any,
) -> Any:
    """The message to ``delivery``, built during the round trip of the journal write that records it as the one in
    flight (and ``sent``, the one before). Returned once that write is stored; if it was not, ``_JournalUnavailable``
    is raised and nothing may go out."""
    wait = _journal_mark_start(journal, inflight=delivery.pk, sent=sent)
    try:
        message = edition_message(body, delivery.subscriber, personal=personal, connection=connection)
    except BaseException:
        # The write's answer is read whatever happens, or the next command on the connection would read it.
        with contextlib.suppress(Exception):
            wait()
        raise
    _journal_wait(wait)
    return message


def _send_claimed(
    *,
    rows: list[Delivery],
    body: EditionBody,
    personal: dict[int, Personal],
    journal: SendJournal,
    connection: Any,
    result: ChunkResult,
) -> None:
    tally = Tally()
    previous: tuple[int, str] | None = None
    in_flight: Delivery | None = None
    connection = connection or get_connection()
    opened = connection.open()
    # A line per message only when asked for: the Delivery row is the record, and this is the hot path.
    log_each = logger.isEnabledFor(logging.DEBUG)
    try:
        for delivery in rows:
            try:
                # Nothing reaches the ESP before the journal holds this message as the one in flight; the message is
                # built while that record travels.
                message = _built_while_journal_writes(
                    journal,
                    delivery,
                    sent=previous,
                    body=body,
                    personal=personal.get(delivery.subscriber_id, NOBODY),
                    connection=connection,
                )
                in_flight = delivery
                message.send()
            except _JournalUnavailable as exc:
                # Nothing is in flight (the record was not stored, so the message did not go out): this row and the
                # rest simply go back to the queue.
                logger.warning(
                    "send journal or rate limiter unavailable, pausing the chunk: %s", exc, extra=_log_context(delivery)
                )
                result.retry, result.error = True, f"send journal or rate limiter unavailable: {exc}"
                break
            except AnymailError as exc:
                in_flight = None
                outcome = classify(exc)
                logger.warning(
                    "ESP did not take edition %s to subscriber %s (%s): %s",
                    delivery.edition_id,
                    delivery.subscriber_id,
                    outcome.value,
                    exc,
                    extra=_log_context(delivery, outcome=outcome.value),
                )
                if outcome in (Outcome.NOT_SENT, Outcome.THROTTLED):
                    # Not an attempt on this reader: the ESP never saw the request, or refused it for the sender's
                    # rate. The chunk waits and comes back, however long that lasts.
                    tally.add_not_sent(delivery, str(exc))
                else:
                    tally.add_refused(delivery, outcome, str(exc))
                if outcome in (Outcome.NOT_SENT, Outcome.THROTTLED, Outcome.RETRY, Outcome.IN_DOUBT):
                    # Back off the whole chunk: the next message would most likely meet the same answer.
                    result.retry, result.error = True, str(exc)[:500]
                    break
                continue
            in_flight = None
            tally.add_sent(delivery, esp_message_id=message.anymail_status.message_id)
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
            tally.add_refused(in_flight, Outcome.IN_DOUBT, "interrupted while the ESP call ran")
        if opened:
            connection.close()
        # The journal holds the last send too before the rows are written: if the write below never succeeds, the
        # sweep settles this claim from the journal and no accepted message is read as ambiguous.
        with contextlib.suppress(Exception):
            journal.mark(inflight=None if in_flight is None else in_flight.pk, sent=previous)
        with_db_retry(lambda: chunk_record(token=journal.token, tally=tally), what="recording the chunk")
        # Only once the rows hold the outcome; a leftover journal would merely expire.
        with contextlib.suppress(Exception):
            journal.clear([row.pk for row in rows])
    suppress_invalid(tally.invalid_emails)
    result.sent += len(tally.sent)
    result.failed += tally.count(Status.FAILED)
    result.ambiguous += tally.count(Status.AMBIGUOUS)
    result.released += len(rows) - len(tally.sent) - len(tally.settled)
