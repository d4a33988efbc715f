"""The operator's send: ``send_edition`` and the admin's "send now" send one edition now, to everyone who has not
had it, ignoring the send hour and time zones. Re-running it sends only what is still unsent.

And the operator's way out of doubt (``edition_settle_in_doubt``): deliveries left ``ambiguous`` when
``NEWSLETTER_RESEND_AMBIGUOUS`` is off keep their edition ``sending`` until someone decides what they were."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from django.conf import settings
from django.db.models import Count, F, Q, Value
from django.db.models.functions import Coalesce, Concat

from digest.edition_states import SENDABLE, STOPPED
from digest.models import Edition
from subscribers.delivery.chunk import ChunkResult, chunk_send
from subscribers.delivery.esp_errors import edition_backoff
from subscribers.delivery.fanout import Batch, deliveries_fan_out, deliveries_spans
from subscribers.delivery.queries import (
    active_subscribers,
    claimable_statuses,
    subscribers_without_delivery,
    unfinished_statuses,
)
from subscribers.delivery.record import edition_finish_if_done
from subscribers.delivery.sweep import settle_dead_claims
from subscribers.models import Delivery, Subscriber

logger = logging.getLogger(__name__)

Status = Delivery.Status


@dataclass
class SendPlan:
    edition: Edition
    new_recipients: int
    waiting: int  # rows already created and not yet sent (an interrupted send, a lost task)
    approval_pending: bool


def edition_send_plan(*, edition: Edition) -> SendPlan:
    """Who an operator's ``send_edition`` would send to now, without changing anything."""
    waiting = Delivery.objects.filter(
        edition=edition, status__in=unfinished_statuses(), subscriber__status=Subscriber.Status.ACTIVE
    ).count()
    return SendPlan(
        edition=edition,
        new_recipients=subscribers_without_delivery(edition=edition).count(),
        waiting=waiting,
        approval_pending=edition.status not in SENDABLE,
    )


def edition_send_prepare(*, edition: Edition, now: datetime, force: bool = False) -> Batch:
    """Settle dead claims, fan out to every active subscriber without a row, and chunk every unsent row."""
    if edition.status in STOPPED:
        raise ValueError(f"{edition} is {edition.status}: release it before sending")
    # Any claim, however recent, whose journal is silent: the operator re-runs after a crash without waiting.
    settle_dead_claims(now=now, claimed_before=now, edition_id=edition.pk)
    deliveries_fan_out(edition=edition, recipients=active_subscribers(frequency=edition.frequency), now=now)
    waiting = Delivery.objects.filter(edition=edition, status__in=claimable_statuses())
    return Batch(edition_id=edition.pk, chunks=deliveries_spans(waiting), force=force)


def edition_send_now(
    *,
    edition: Edition,
    now: datetime,
    on_chunk: Callable[[ChunkResult, int], object] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    force: bool = False,
) -> ChunkResult:
    """Send ``edition`` in this process, chunk after chunk over one connection each, retrying throttled chunks.

    ``force``: ``send_edition --force``, sent despite the complaint-rate brake.
    """
    batch = edition_send_prepare(edition=edition, now=now, force=force)
    total = ChunkResult()
    for chunk in batch.chunks:
        for attempt in range(settings.NEWSLETTER_SEND_MAX_RETRIES + 1):
            result = chunk_send(edition_id=edition.pk, first=chunk.first, last=chunk.last, force=force)
            total.add(result)
            if not result.retry:
                break
            if attempt < settings.NEWSLETTER_SEND_MAX_RETRIES:
                sleep(edition_backoff(attempt))
        else:
            total.retry, total.error = True, result.error
        if on_chunk is not None:
            on_chunk(result, chunk.size)
    edition_finish_if_done(edition_id=edition.pk)
    return total


# --- Settling deliveries left in doubt ------------------------------------------------------------------------


class Settle(StrEnum):
    """What the operator decides an in-doubt delivery was."""

    SENT = "sent"  # the ESP most likely has it: count it as accepted, never send it again
    RESEND = "resend"  # send it once more, accepting a possible duplicate


class SettleRefused(Exception):
    """Nothing to settle, or not yet: the message says why, for the admin page or the command line."""


@dataclass(frozen=True, slots=True)
class InDoubt:
    in_doubt: int  # ambiguous: the ESP may or may not have it
    unfinished: int  # queued or being sent: the send is still going on


def edition_in_doubt(*, edition: Edition) -> InDoubt:
    """How many of the edition's deliveries are in doubt, and how many are still being sent: one query."""
    counts = Delivery.objects.filter(edition=edition).aggregate(
        in_doubt=Count("pk", filter=Q(status=Status.AMBIGUOUS)),
        # Not ``unfinished_statuses()``: with NEWSLETTER_RESEND_AMBIGUOUS on, those include the ambiguous rows.
        unfinished=Count("pk", filter=Q(status__in=(*Delivery.CLAIMABLE, *Delivery.IN_FLIGHT))),
    )
    return InDoubt(in_doubt=counts["in_doubt"], unfinished=counts["unfinished"])


def edition_settle_in_doubt(*, edition: Edition, how: Settle, now: datetime) -> int:
    """Settle the edition's in-doubt deliveries as the operator decided; returns how many were settled.

    Only once nothing else is queued or being sent, so the decision is about the deliveries the send left in doubt
    and nothing still moving. ``Settle.SENT`` makes them ``sent`` (counted as accepted, with the time they were found
    in doubt as their send time) and finishes the edition when nothing else remains. ``Settle.RESEND`` puts them back
    in the queue, once: the caller sends them through the normal chunk path (``edition_send_now`` or
    ``edition_send_queue``), whose claim gives each to one chunk only; in doubt again, they stay in doubt. Either way
    ``ambiguous_at`` is kept, so they are still counted as once in doubt, and ``last_error`` says what was decided.
    A conditional UPDATE from ``ambiguous``: two operators settling at once settle each delivery once.
    """
    if edition.status in STOPPED:
        raise SettleRefused(f"{edition} is {edition.status}: release it before settling its deliveries.")
    found = edition_in_doubt(edition=edition)
    if not found.in_doubt:
        raise SettleRefused(f"Nothing to settle: no delivery of {edition} is in doubt.")
    if found.unfinished:
        raise SettleRefused(
            f"{edition} still has {found.unfinished} deliveries queued or being sent: let the send finish (or run "
            "send_edition) before settling the ones in doubt."
        )
    in_doubt = Delivery.objects.filter(edition=edition, status=Status.AMBIGUOUS)
    if how is Settle.SENT:
        settled = in_doubt.update(
            status=Status.SENT,
            sent_at=Coalesce(F("ambiguous_at"), Value(now)),
            last_error=Concat(Value("in doubt, counted as sent by an operator; was: "), F("last_error")),
        )
        edition_finish_if_done(edition_id=edition.pk, now=now)
    else:
        settled = in_doubt.update(
            status=Status.QUEUED,
            enqueued_at=None,  # held by no task: the sweep takes them too if the caller's send is lost
            last_error=Concat(Value("in doubt, sent again by an operator; was: "), F("last_error")),
        )
    # The command line has no admin log: this line is its record of the decision.
    logger.warning(
        "edition %s: %d in-doubt deliveries settled by an operator: %s",
        edition.pk,
        settled,
        how.value,
        extra={"edition_id": edition.pk, "settled": settled, "how": how.value},
    )
    return settled
