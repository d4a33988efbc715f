"""Celery tasks for ingestion: beat's poll fans out one fetch per enabled Source.

Tasks take ids and re-read the row, so a Source disabled or deleted after the fan-out is simply skipped. Re-running
a fetch is harmless (the conditional GET and the unique sha256 make it idempotent), which is what ``acks_late``
redelivery needs.
"""

from __future__ import annotations

import logging

from celery import shared_task

from digest.fetch import fetch_source
from digest.models import Source
from digest.vectors import representation_fit, vectors_refresh

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
    if result is not None and not result.failed:
        # New papers get vectors from the current representation now, not at the next fit.
        vectors_refresh()
    return outcome


@shared_task(name="digest.tasks.fit_representation")
def fit_representation() -> str:
    """Beat's nightly fit; a no-op when no paper was added since the current representation."""
    outcome = representation_fit()
    logger.info("%s", outcome.describe())
    return outcome.describe()
