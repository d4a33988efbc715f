"""Celery tasks that send editions: the beat tick, chunk sends, the stalled-delivery sweep.

Thin callers of ``subscribers.delivery``. Every task is safe to run twice (``acks_late`` redelivers after a crash):
the rows in the database, not the broker, say what is left to send. Chunks are enqueued with
``transaction.on_commit`` so a worker never looks for rows that are not committed yet.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from functools import partial

from celery import Task, shared_task
from celery.exceptions import Reject
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from subscribers.delivery import schedule
from subscribers.delivery.chunk import ChunkResult, chunk_send
from subscribers.delivery.esp_errors import edition_backoff
from subscribers.delivery.fanout import Batch
from subscribers.delivery.sweep import chunk_hand_to_sweep, deliveries_sweep

logger = logging.getLogger(__name__)


def enqueue_batches(batches: list[Batch]) -> int:
    """One ``send_chunk`` per chunk, published once the surrounding transaction commits."""
    count = 0
    for batch in batches:
        for chunk in batch.chunks:
            # Only a forced chunk carries the keyword.
            if batch.force:
                transaction.on_commit(partial(send_chunk.delay, batch.edition_id, chunk.first, chunk.last, force=True))
            else:
                transaction.on_commit(partial(send_chunk.delay, batch.edition_id, chunk.first, chunk.last))
            count += 1
    return count


@shared_task(acks_late=True)
def newsletter_tick() -> int:
    """Build today's edition when due and fan it out to the subscribers whose morning it is."""
    with transaction.atomic():
        batches = schedule.newsletter_tick(now=timezone.now())
        return enqueue_batches(batches)


@shared_task(acks_late=True)
def sweep_deliveries() -> dict[str, int]:
    """Settle claims of dead workers and re-enqueue rows whose task was lost, without waiting for the broker."""
    with transaction.atomic():
        result = deliveries_sweep(now=timezone.now())
        enqueue_batches(result.batches)
    return {
        "settled_sent": result.settled_sent,
        "ambiguous": result.ambiguous,
        "requeued": result.requeued,
        "dropped": result.dropped,
    }


@shared_task(bind=True, acks_late=True, max_retries=None)
def send_chunk(
    self: Task, edition_id: int, first: int | list[int], last: int | None = None, force: bool = False
) -> dict[str, object]:
    """Send the chunk ``first``..``last`` (subscriber ids, inclusive); throttled or failing ESPs are retried with
    exponential backoff and full jitter.

    ``force``: queued by ``send_edition --force``, sent despite the complaint-rate brake (a retry keeps it; the
    sweep's re-enqueue does not, and waits for a resume). ``first`` as a list of ids: a chunk queued by the
    previous release, sent as the range it spans (the rows say who is due, so that claims no one extra).
    """
    if isinstance(first, list):
        ids = first
        if not ids:
            return asdict(ChunkResult())
        first, last = min(ids), max(ids)
    last = first if last is None else last
    result = chunk_send(edition_id=edition_id, first=first, last=last, force=force)
    if result.retry:
        retries = self.request.retries
        if retries >= settings.NEWSLETTER_SEND_MAX_RETRIES:
            # The rows stay queued in the database; the sweep enqueues them again later.
            logger.error("chunk of edition %s gave up after %d retries: %s", edition_id, retries, result.error)
        else:
            countdown = edition_backoff(retries)
            logger.warning("chunk of edition %s retried in %.1fs: %s", edition_id, countdown, result.error)
            try:
                raise self.retry(countdown=countdown)
            except Reject as exc:
                # Celery could not publish the retry (the broker is down) and would drop the task: the rows are
                # marked as having no task, so the next sweep enqueues them instead of waiting out the stall time.
                handed = chunk_hand_to_sweep(edition_id=edition_id, first=first, last=last)
                logger.warning(
                    "chunk of edition %s: retry not published (%s), %d rows left for the next sweep",
                    edition_id,
                    getattr(exc, "reason", exc),  # celery-types does not declare Reject.reason
                    handed,
                )
    return asdict(result)
