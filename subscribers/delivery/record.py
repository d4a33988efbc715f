"""Writing what happened to a chunk's rows: once per chunk, in a fixed handful of statements, and finishing the
edition when its last delivery is settled."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from digest.edition_states import edition_mark_sent
from subscribers.delivery.esp_errors import Outcome
from subscribers.delivery.queries import unfinished_statuses
from subscribers.models import Delivery, Suppression
from subscribers.services import subscriber_suppress

logger = logging.getLogger(__name__)

Status = Delivery.Status
# A delivery the ESP keeps failing (5xx) is given up after this many attempts. An ESP that could not be reached at
# all, or that throttled the sender (429), is no attempt (``Tally.add_not_sent``): it says nothing about the reader.
MAX_ATTEMPTS = 10


@dataclass
class Tally:
    """What happened to each claimed row, kept in memory and written once at the end of the chunk."""

    sent: list[Delivery] = field(default_factory=list)
    settled: list[Delivery] = field(default_factory=list)  # failed, ambiguous, or back to queued after an attempt
    invalid_emails: list[str] = field(default_factory=list)
    not_sent: list[Delivery] = field(default_factory=list)  # not reached or throttled: back to queued, no attempt

    def add_sent(self, delivery: Delivery, *, esp_message_id: str | None) -> None:
        delivery.status = Status.SENT
        delivery.esp_message_id = "" if esp_message_id is None else str(esp_message_id)[:200]
        delivery.sent_at = timezone.now()
        delivery.attempts += 1
        delivery.last_error = ""
        self.sent.append(delivery)

    def add_refused(self, delivery: Delivery, outcome: Outcome, error: str) -> None:
        """An attempt that did not end in a send: in doubt is ambiguous (the journal's reading of an edition send,
        see ``esp_errors``), a retry goes back to the queue until it has had ``MAX_ATTEMPTS``, the rest failed."""
        delivery.attempts += 1
        delivery.last_error = error[:2000]
        if outcome is Outcome.IN_DOUBT:
            delivery.status = Status.AMBIGUOUS
            delivery.ambiguous_at = timezone.now()
        elif outcome is Outcome.RETRY and delivery.attempts < MAX_ATTEMPTS:
            delivery.status = Status.QUEUED
        else:
            delivery.status = Status.FAILED
        self.settled.append(delivery)
        if outcome is Outcome.INVALID:
            self.invalid_emails.append(delivery.subscriber.email)

    def add_not_sent(self, delivery: Delivery, error: str) -> None:
        """Nothing reached the ESP, or it throttled the sender: the row goes back to the queue as it was (no attempt),
        with the error for the operator."""
        delivery.status = Status.QUEUED
        delivery.last_error = error[:2000]
        self.not_sent.append(delivery)

    def count(self, status: str) -> int:
        return sum(1 for row in self.settled if row.status == status)


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


def chunk_record(*, token: str, tally: Tally) -> None:
    """Write the chunk's outcome: a fixed handful of statements whatever the chunk size."""
    mine = Delivery.objects.filter(status=Status.SENDING, claim_token=token)
    if tally.sent and connection.vendor == "postgresql":
        _record_sent_postgresql(token=token, rows=tally.sent)
    elif tally.sent:
        mine.bulk_update(tally.sent, ["status", "esp_message_id", "sent_at", "attempts", "last_error"])
    if tally.settled:
        mine.bulk_update(tally.settled, ["status", "attempts", "last_error", "ambiguous_at"])
    if tally.not_sent:
        mine.bulk_update(tally.not_sent, ["status", "last_error"])
    # Whatever is still "sending" under this token was never handed to the ESP.
    mine.update(status=Status.QUEUED)


def suppress_invalid(emails: list[str]) -> None:
    """Addresses the ESP refused as invalid are never mailed again."""
    for email in emails:
        subscriber_suppress(email=email, reason=Suppression.Reason.INVALID)


def edition_finish_if_done(*, edition_id: int, now: datetime | None = None) -> bool:
    """Mark the edition sent once every delivery has ended for a known reason: accepted, refused by the ESP, or
    skipped for a reason about the reader.

    A delivery still in doubt (``ambiguous``, left alone when ``NEWSLETTER_RESEND_AMBIGUOUS`` is off; re-sent, hence
    unfinished, when it is on) is none of those: the edition stays ``sending``, the edition page lists the delivery
    among its problems (``subscribers.reports.delivery_problems``) and every check logs why it is not sent.
    """
    if Delivery.objects.filter(edition_id=edition_id, status__in=unfinished_statuses()).exists():
        return False
    # One query for both figures: this runs at the end of every chunk.
    counts = Delivery.objects.filter(edition_id=edition_id).aggregate(
        in_doubt=Count("pk", filter=Q(status=Status.AMBIGUOUS)),
        accepted=Count("pk", filter=Q(status__in=Delivery.ACCEPTED)),
    )
    if in_doubt := counts["in_doubt"]:
        logger.warning(
            "edition %s is not marked sent: %d deliveries are in doubt (the ESP may or may not have accepted them); "
            "they are listed among the edition's problems",
            edition_id,
            in_doubt,
            extra={"edition_id": edition_id, "in_doubt": in_doubt},
        )
        return False
    return edition_mark_sent(edition_id=edition_id, now=now or timezone.now(), recipient_count=counts["accepted"])
