"""Celery tasks for ingestion: beat's poll fans out one fetch per enabled Source; the title lookup resolves papers
listed without an arXiv id.

Tasks take ids and re-read the row, so a Source disabled or deleted after the fan-out is simply skipped. Re-running
a fetch is harmless (the conditional GET and the unique sha256 make it idempotent), and so is re-running a lookup
(a paper with an id is skipped), which is what ``acks_late`` redelivery needs.
"""

from __future__ import annotations

import logging
from collections import Counter

from celery import Task, shared_task

from digest.enrichment import (
    BATCH_SIZE,
    EnrichOutcome,
    enrich_paper,
    enrichment_enqueue,
    lookups_enabled,
    unresolved_paper_ids,
)
from digest.fetch import fetch_source
from digest.lookups import LookupDeferred
from digest.models import Source
from digest.vectors import representation_fit, vectors_refresh

logger = logging.getLogger(__name__)

# A deferred lookup is retried this often, then left to beat's enrich_unresolved.
ENRICH_MAX_RETRIES = 5
ENRICH_RETRY_BASE_SECONDS = 60
ENRICH_RETRY_MAX_SECONDS = 3600
# Per beat run: twenty batches, about twenty minutes of arXiv's spacing, well inside the hourly default.
UNRESOLVED_PER_RUN = 20 * BATCH_SIZE


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


@shared_task(name="digest.tasks.enrich_papers", bind=True, max_retries=ENRICH_MAX_RETRIES)
def enrich_papers(self: Task, paper_ids: list[int]) -> str:
    """Look these papers up in turn. Rate limited or timed out: the rest (this one included) are retried later,
    when the server said to or with a doubling backoff; nothing is lost."""
    counts: Counter[EnrichOutcome] = Counter()
    for index, paper_id in enumerate(paper_ids):
        try:
            counts[enrich_paper(paper_id=paper_id).outcome] += 1
        except LookupDeferred as exc:
            remaining = paper_ids[index:]
            if self.request.retries >= (self.max_retries or 0):
                logger.warning("title lookup: %d papers left for the next enrich_unresolved: %s", len(remaining), exc)
                break
            backoff = min(ENRICH_RETRY_BASE_SECONDS * 2**self.request.retries, ENRICH_RETRY_MAX_SECONDS)
            countdown = min(exc.retry_after, ENRICH_RETRY_MAX_SECONDS) if exc.retry_after > 0 else backoff
            logger.info("title lookup: %d papers retried in %.0f s: %s", len(remaining), countdown, exc)
            raise self.retry(args=(remaining,), countdown=countdown) from None
    summary = ", ".join(f"{count} {outcome.value}" for outcome, count in sorted(counts.items())) or "nothing to do"
    logger.info("title lookup: %s", summary)
    return summary


@shared_task(name="digest.tasks.enrich_unresolved")
def enrich_unresolved() -> int:
    """Beat: queue lookups for papers still without an id (never asked, or their miss is old enough to ask again)."""
    if not lookups_enabled():
        return 0
    paper_ids = unresolved_paper_ids(limit=UNRESOLVED_PER_RUN)
    enrichment_enqueue(paper_ids=paper_ids)
    return len(paper_ids)
