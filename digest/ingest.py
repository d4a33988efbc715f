"""Turning digest documents into papers: store the raw bytes, parse, upsert. Fetching them is ``digest.fetch``.

The raw document is committed first (its sha256 is unique, so the same bytes twice, even from two processes at
once, make one row), then parsed and upserted (``digest.upsert``) in one transaction that holds the document's row
lock. A page that cannot be parsed stays stored as a failed document with the parser's reason, ready for
``reparse_document``. Once that transaction commits, the page's papers that still have no arXiv id are handed to the
title lookup (``digest.enrichment``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Count, Max, Min
from django.utils import timezone

from digest.enrichment import enrichment_enqueue
from digest.models import Appearance, DigestDocument, Paper, Source
from digest.parsers import ParseError, parse
from digest.upsert import papers_upsert

logger = logging.getLogger(__name__)

_UPSERT_ATTEMPTS = 3


class IngestStatus(StrEnum):
    CREATED = "created"  # new bytes, stored and parsed
    UNCHANGED = "unchanged"  # these bytes were already ingested: nothing changed
    REPARSED = "reparsed"  # a stored document parsed again (after a parser fix, or one that had failed)
    FAILED = "failed"  # stored (when there were bytes) but not parsed, or not fetched: see ``error``


@dataclass
class IngestResult:
    status: IngestStatus
    origin: str
    document: DigestDocument | None = None
    papers_created: int = 0
    papers_updated: int = 0
    error: str = ""

    @property
    def failed(self) -> bool:
        return self.status == IngestStatus.FAILED

    def describe(self) -> str:
        """One line for an operator: what happened to this document."""
        if self.failed:
            return f"failed     {self.origin}: {self.error}"
        count = self.document.paper_count if self.document else 0
        detail = f"{count} papers"
        if self.status != IngestStatus.UNCHANGED:
            detail += f", {self.papers_created} new, {self.papers_updated} updated"
        listed = f" listed {self.document.listed_date}" if self.document and self.document.listed_date else ""
        return f"{self.status.value:<10} {self.origin} ({detail}){listed}"


# --- Ingesting bytes ---------------------------------------------------------------------------------------


def ingest_bytes(
    data: bytes,
    *,
    origin: str,
    format: str = "auto",
    listed_date: date | None = None,
    today: date | None = None,
    source: Source | None = None,
) -> IngestResult:
    """Store ``data`` as a DigestDocument (once per sha256), parse it and upsert its papers.

    ``listed_date`` is the operator's date: the day a page lists when it does not say, and the reference day for a
    bare ``Mar 14`` (the latest Mar 14 on or before it); without it ``today``, the ingest date, is the reference.
    """
    today = today or timezone.localdate()
    if len(data) > settings.INGEST_MAX_BYTES:
        return IngestResult(
            status=IngestStatus.FAILED,
            origin=origin,
            error=f"document is {len(data):,} bytes, over the INGEST_MAX_BYTES cap of {settings.INGEST_MAX_BYTES:,}",
        )
    digest = hashlib.sha256(data).hexdigest()
    document, created = _store_raw(data, sha256=digest, origin=origin, format=format, source=source)
    if not created and document.status == DigestDocument.Status.PARSED:
        return IngestResult(status=IngestStatus.UNCHANGED, origin=origin, document=document)
    # New bytes, or a stored document that failed (or whose ingest was cut short) before: parse it now.
    return _process(
        document.pk,
        data=data,
        origin=origin,
        format=format,
        listed_date=listed_date,
        today=today,
        redo=False,
        success=IngestStatus.CREATED,  # or REPARSED: decided under the row lock (``_process_locked``)
    )


def reparse_document(document: DigestDocument, *, today: date | None = None) -> IngestResult:
    """Parse a stored document again from its raw bytes and redo its appearances (e.g. after a parser fix).

    The document keeps its format and listed date; its dates are judged as of the day it was ingested.
    """
    ingest_day = timezone.localdate(document.created_at) if document.created_at else timezone.localdate()
    return _process(
        document.pk,
        data=None,
        origin=document.origin,
        format=document.format,
        listed_date=document.listed_date,
        today=today or ingest_day,
        redo=True,
        success=IngestStatus.REPARSED,
    )


def _store_raw(
    data: bytes, *, sha256: str, origin: str, format: str, source: Source | None
) -> tuple[DigestDocument, bool]:
    try:
        with transaction.atomic():
            document = DigestDocument.objects.create(
                sha256=sha256,
                raw=data,
                size=len(data),
                origin=origin[:1000],
                format=format or "auto",
                source=source,
                status=DigestDocument.Status.PENDING,
            )
            return document, True
    except IntegrityError:
        # The unique sha256 decides: another run (maybe at this very moment) stored these bytes first.
        return DigestDocument.objects.defer("raw").get(sha256=sha256), False


def _process(
    document_id: int,
    *,
    data: bytes | None,
    origin: str,
    format: str,
    listed_date: date | None,
    today: date,
    redo: bool,
    success: IngestStatus,
) -> IngestResult:
    for attempt in range(1, _UPSERT_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return _process_locked(
                    document_id,
                    data=data,
                    origin=origin,
                    format=format,
                    listed_date=listed_date,
                    today=today,
                    redo=redo,
                    success=success,
                )
        except IntegrityError:
            # A concurrent ingest created one of our new papers (same arXiv id) first: retry, which now finds it.
            if attempt == _UPSERT_ATTEMPTS:
                return _mark_failed(document_id, origin, "could not store papers: conflicting concurrent ingests")
        except DatabaseError as exc:
            logger.exception("ingesting document %s from %s failed in the database", document_id, origin)
            return _mark_failed(document_id, origin, f"database error while storing papers: {exc}")
    raise AssertionError("unreachable")


def _mark_failed(document_id: int, origin: str, error: str) -> IngestResult:
    DigestDocument.objects.filter(pk=document_id).update(
        status=DigestDocument.Status.FAILED, error=error, parsed_at=timezone.now()
    )
    document = DigestDocument.objects.defer("raw").get(pk=document_id)
    return IngestResult(status=IngestStatus.FAILED, origin=origin, document=document, error=error)


def _process_locked(
    document_id: int,
    *,
    data: bytes | None,
    origin: str,
    format: str,
    listed_date: date | None,
    today: date,
    redo: bool,
    success: IngestStatus,
) -> IngestResult:
    documents = DigestDocument.objects.select_for_update()
    document = documents.defer("raw").get(pk=document_id) if data is not None else documents.get(pk=document_id)
    if not redo and document.status == DigestDocument.Status.PARSED:
        # Another process parsed these bytes while we waited for the lock.
        return IngestResult(status=IngestStatus.UNCHANGED, origin=origin, document=document)
    if not redo:
        # Decided under the lock, not by who stored the bytes: of two runs racing on new bytes, the one that got
        # the lock first parses them for the first time (created), whichever of the two stored them.
        success = IngestStatus.CREATED if document.parsed_at is None else IngestStatus.REPARSED
    raw = data if data is not None else bytes(document.raw)
    detached = _detach(document) if redo else []
    try:
        parsed = parse(raw, format=format or "auto", today=today, listed_date=listed_date)
    except ParseError as exc:
        _delete_orphans(detached)
        document.status = DigestDocument.Status.FAILED
        document.error = str(exc)
        document.paper_count = 0
        document.parsed_at = timezone.now()
        document.save(update_fields=["status", "error", "paper_count", "parsed_at"])
        return IngestResult(status=IngestStatus.FAILED, origin=origin, document=document, error=str(exc))
    upserted = papers_upsert(document=document, parsed=parsed, today=today)
    _delete_orphans(detached)
    document.status = DigestDocument.Status.PARSED
    document.error = ""
    document.format = parsed.format
    document.listed_date = parsed.listed_date
    document.paper_count = upserted.appearances
    document.parsed_at = timezone.now()
    document.save(update_fields=["status", "error", "format", "listed_date", "paper_count", "parsed_at"])
    # Queued only when this transaction commits: a rolled-back ingest leaves no lookups for papers that never were.
    enrichment_enqueue(paper_ids=upserted.unresolved_ids)
    return IngestResult(
        status=success,
        origin=origin,
        document=document,
        papers_created=upserted.created,
        papers_updated=upserted.updated,
    )


def _detach(document: DigestDocument) -> list[int]:
    """Remove a document's appearances and recount its papers as if it had never been ingested."""
    paper_ids = list(document.appearances.values_list("paper_id", flat=True))
    if not paper_ids:
        return []
    document.appearances.all().delete()
    stats = {
        row["paper_id"]: row
        for row in Appearance.objects.filter(paper_id__in=paper_ids)
        .values("paper_id")
        .annotate(count=Count("id"), first=Min("listed_date"), last=Max("listed_date"))
    }
    papers = list(Paper.objects.select_for_update().filter(pk__in=paper_ids).order_by("pk"))
    for paper in papers:
        row = stats.get(paper.pk)
        paper.appearance_count = row["count"] if row else 0
        if row:
            paper.first_seen, paper.last_seen = row["first"] or paper.first_seen, row["last"] or paper.last_seen
    Paper.objects.bulk_update(papers, ["appearance_count", "first_seen", "last_seen"])
    return paper_ids


def _delete_orphans(paper_ids: list[int]) -> None:
    """Papers that only a re-parsed document listed, and that no curator or edition has touched, go away."""
    if not paper_ids:
        return
    Paper.objects.filter(
        pk__in=paper_ids,
        appearance_count=0,
        pinned=False,
        hidden=False,
        boost=0,
        note="",
        title_edited=False,
        abstract_edited=False,
        edition_entries__isnull=True,
    ).delete()
