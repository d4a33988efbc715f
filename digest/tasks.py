"""Celery tasks for ingestion: beat's poll fans out one fetch per enabled Source.

Tasks take ids and re-read the row, so a Source disabled or deleted after the fan-out is simply skipped. Re-running
a fetch is harmless (the conditional GET and the unique sha256 make it idempotent), which is what ``acks_late``
redelivery needs.
"""

from __future__ import annotations

import logging

from celery import shared_task

from digest.ingest import fetch_source
from digest.models import Source

logger = logging.getLogger(__name__)


@shared_task(name="digest.tasks.poll_sources")
def poll_sources() -> int:
    """Enqueue one fetch per enabled Source; returns how many were enqueued."""
    source_ids = list(Source.objects.filter(enabled=True).order_by("pk").values_list("pk", flat=True))
    for source_id in source_ids:
        fetch_source_task.delay(source_id)
    return len(source_ids)


@shared_task(name="digest.tasks.fetch_source")
def fetch_source_task(source_id: int) -> str:
    source = Source.objects.filter(pk=source_id, enabled=True).first()
    if source is None:
        return "skipped: source disabled or gone"
    result = fetch_source(source)
    outcome = "not modified" if result is None else result.describe()
    logger.info("polled %s: %s", source.name, outcome)
    return outcome
