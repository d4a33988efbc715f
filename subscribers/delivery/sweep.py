"""The sweep: settle the claims of dead workers from their send journal, and re-enqueue rows whose task was lost.

It runs every ``SEND_SWEEP_SECONDS`` (beat), so recovery waits on the database's own view of what is unsent, not
on the broker's visibility timeout.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q, QuerySet

from digest.edition_states import STOPPED
from digest.models import Edition
from subscribers.delivery.fanout import Batch, deliveries_spans
from subscribers.delivery.journal import SendJournal
from subscribers.delivery.queries import claimable_statuses
from subscribers.delivery.record import edition_finish_if_done
from subscribers.models import Delivery, Subscriber

logger = logging.getLogger(__name__)

Status = Delivery.Status


@dataclass
class SweepResult:
    settled_sent: int = 0
    ambiguous: int = 0
    requeued: int = 0
    dropped: int = 0  # rows whose subscriber or edition was deleted while they were made
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
    with contextlib.suppress(Exception):  # a leftover journal merely expires
        journal.clear([row.pk for row in rows])
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


def deliveries_drop_orphans(rows: QuerySet[Delivery]) -> int:
    """Delete those of ``rows`` whose subscriber or edition no longer exists; returns how many.

    The delivery table has no foreign-key constraints (see the model): a fan-out can insert a row for a subscriber
    (or an edition) deleted at the same moment. No chunk claims such a row, so it stays waiting until it is lost
    and found here.
    """
    subscriber = Subscriber.objects.filter(pk=OuterRef("subscriber_id"))
    edition = Edition.objects.filter(pk=OuterRef("edition_id"))
    orphans = list(rows.filter(~Exists(subscriber) | ~Exists(edition)).values_list("pk", flat=True))
    if orphans:
        Delivery.objects.filter(pk__in=orphans).delete()
        logger.warning("dropped %d deliveries whose subscriber or edition was deleted", len(orphans))
    return len(orphans)


def chunk_hand_to_sweep(*, edition_id: int, first: int, last: int) -> int:
    """Mark the chunk's waiting rows as held by no task, so the next sweep enqueues them at once (its retry could not
    be published); returns how many."""
    return Delivery.objects.filter(
        edition_id=edition_id, subscriber_id__gte=first, subscriber_id__lte=last, status__in=claimable_statuses()
    ).update(enqueued_at=None)


def deliveries_sweep(*, now: datetime, edition_id: int | None = None) -> SweepResult:
    """Settle claims whose worker died, and hand back the rows whose task seems lost, as batches to enqueue."""
    result = SweepResult()
    stale_before = now - timedelta(seconds=settings.NEWSLETTER_STALL_SECONDS)
    settle_dead_claims(now=now, claimed_before=stale_before, edition_id=edition_id, result=result)

    unclaimed = Delivery.objects.filter(status__in=claimable_statuses())
    if edition_id is not None:
        unclaimed = unclaimed.filter(edition_id=edition_id)
    unclaimed = unclaimed.filter(Q(enqueued_at__lt=stale_before) | Q(enqueued_at__isnull=True))
    result.dropped = deliveries_drop_orphans(unclaimed)
    lost = unclaimed.exclude(edition__status__in=STOPPED)
    editions = set(lost.order_by().values_list("edition_id", flat=True).distinct())
    for ed_id in sorted(editions):
        # Cut into chunks by one query that returns only their edges, then marked as enqueued by one statement:
        # no id is held in Python. A row that turns lost between the two is marked too and, if no chunk's range
        # holds it, waits one more stall time for the next sweep.
        batch = Batch(edition_id=ed_id, chunks=deliveries_spans(lost.filter(edition_id=ed_id)))
        lost.filter(edition_id=ed_id).update(enqueued_at=now)
        result.batches.append(batch)
        result.requeued += batch.size
    # An edition whose last rows were settled here (no chunk will run for them) is finished now.
    sending = set(Edition.objects.filter(status=Edition.Status.SENDING).values_list("pk", flat=True))
    for ed_id in sending - editions:
        edition_finish_if_done(edition_id=ed_id)
    return result
