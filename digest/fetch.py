"""Polling a Source: a conditional GET (``digest.http``) of its URL, and the page ingested when it changed."""

from __future__ import annotations

from datetime import date

from django.utils import timezone

from digest.http import FetchError, fetch_url
from digest.ingest import IngestResult, IngestStatus, ingest_bytes
from digest.models import Source


def fetch_source(source: Source, *, today: date | None = None) -> IngestResult | None:
    """Poll one Source with a conditional GET; None when the server says nothing changed (304)."""
    now = timezone.now()
    sources = Source.objects.filter(pk=source.pk)
    try:
        fetched = fetch_url(source.url, etag=source.etag, last_modified=source.last_modified)
    except FetchError as exc:
        sources.update(last_fetched_at=now, last_status="fetch failed", last_error=str(exc))
        return IngestResult(status=IngestStatus.FAILED, origin=source.url, error=str(exc))
    if fetched.not_modified or fetched.content is None:
        sources.update(last_fetched_at=now, last_status="not modified (304)", last_error="")
        return None
    result = ingest_bytes(fetched.content, origin=source.url, format=source.format, today=today, source=source)
    # The validators are kept even when parsing failed: the raw page is stored, and fetching the same bytes
    # again would not parse any better; a parser fix re-parses it from the database.
    sources.update(
        etag=fetched.etag[:300],
        last_modified=fetched.last_modified[:100],
        last_fetched_at=now,
        last_status=result.describe()[:200],
        last_error=result.error,
    )
    return result
