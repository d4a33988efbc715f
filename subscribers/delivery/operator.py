"""The operator's send: ``send_edition`` and the admin's "send now" send one edition now, to everyone who has not
had it, ignoring the send hour and time zones. Re-running it sends only what is still unsent."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from digest.edition_states import SENDABLE, STOPPED
from digest.models import Edition
from subscribers.delivery.chunk import ChunkResult, chunk_send
from subscribers.delivery.esp_errors import edition_backoff
from subscribers.delivery.fanout import Batch, chunked, deliveries_fan_out
from subscribers.delivery.queries import claimable_statuses, subscribers_without_delivery, unfinished_statuses
from subscribers.delivery.record import edition_finish_if_done
from subscribers.delivery.sweep import settle_dead_claims
from subscribers.models import Delivery, Subscriber


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
    new_ids = list(subscribers_without_delivery(edition=edition).order_by("pk").values_list("pk", flat=True))
    deliveries_fan_out(edition=edition, subscriber_ids=new_ids, now=now)
    ids = list(
        Delivery.objects.filter(edition=edition, status__in=claimable_statuses())
        .order_by("subscriber_id")
        .values_list("subscriber_id", flat=True)
    )
    return Batch(edition_id=edition.pk, chunks=chunked(ids), force=force)


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
            result = chunk_send(edition_id=edition.pk, subscriber_ids=chunk, force=force)
            total.add(result)
            if not result.retry:
                break
            if attempt < settings.NEWSLETTER_SEND_MAX_RETRIES:
                sleep(edition_backoff(attempt))
        else:
            total.retry, total.error = True, result.error
        if on_chunk is not None:
            on_chunk(result, len(chunk))
    edition_finish_if_done(edition_id=edition.pk)
    return total
