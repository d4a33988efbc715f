"""Turning digest documents into papers: store the raw bytes, parse, upsert. Fetching them is ``digest.fetch``.

The raw document is committed first (its sha256 is unique, so the same bytes twice, even from two processes at
once, make one row), then parsed and upserted in one transaction that holds the document's row lock. A page that
cannot be parsed stays stored as a failed document with the parser's reason, ready for ``reparse_document``.

Papers are matched by arXiv id, else by title key; a paper first seen without an id gains it when a later page has
one. Ingestion updates counts, dates, upvotes and bibliographic fields, and never touches the curator's fields
(pinned, hidden, boost, note) nor a title or abstract whose ``*_edited`` flag is set. Each document costs a fixed
handful of queries however many papers it lists.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Count, DateField, F, Max, Min, Q, Value
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone

from digest.models import Appearance, DigestDocument, Paper, Source
from digest.normalize import title_key
from digest.parsers import ParsedDocument, ParsedPaper, ParseError, parse

logger = logging.getLogger(__name__)

_UPSERT_ATTEMPTS = 3
# Bibliographic fields a new listing may change; counts and dates are updated in SQL for every matched paper.
_TEXT_FIELDS = ("arxiv_id", "title", "title_key", "abstract", "authors", "links", "published")


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

    ``listed_date`` is the operator's date (the day a page lists when it does not say, and the year of a bare
    ``Mar 14``); ``today`` is the ingest date, which no page date may lie after.
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
        success=IngestStatus.CREATED if created else IngestStatus.REPARSED,
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
    created, updated, appearances = _upsert(document, parsed, today=today)
    _delete_orphans(detached)
    document.status = DigestDocument.Status.PARSED
    document.error = ""
    document.format = parsed.format
    document.listed_date = parsed.listed_date
    document.paper_count = appearances
    document.parsed_at = timezone.now()
    document.save(update_fields=["status", "error", "format", "listed_date", "paper_count", "parsed_at"])
    return IngestResult(
        status=success, origin=origin, document=document, papers_created=created, papers_updated=updated
    )


def _upsert(document: DigestDocument, parsed: ParsedDocument, *, today: date) -> tuple[int, int, int]:
    """Create or update the document's papers and its appearances; returns (created, updated, appearances)."""
    seen_on = parsed.listed_date or today
    keyed = [(item, title_key(item.title)) for item in parsed.papers]
    ids = {item.arxiv_id for item, _ in keyed if item.arxiv_id}
    keys = {key for _, key in keyed}
    # Row locks in primary-key order, so two ingests touching the same papers queue instead of losing updates.
    existing = list(
        Paper.objects.select_for_update().filter(Q(arxiv_id__in=ids) | Q(title_key__in=keys)).order_by("pk")
    )
    by_id: dict[str, Paper] = {paper.arxiv_id: paper for paper in existing if paper.arxiv_id}
    by_key: dict[str, list[Paper]] = {}
    for known in existing:
        by_key.setdefault(known.title_key, []).append(known)

    new_papers: list[Paper] = []
    before: dict[int, dict[str, object]] = {}  # id() of a matched paper -> its fields as read
    matched: list[Paper] = []
    placed: list[tuple[Paper, int, ParsedPaper]] = []
    taken: set[int] = set()  # id() of papers already on this page: the first position wins
    for position, (item, key) in enumerate(keyed, start=1):
        paper = _match(item, key, by_id=by_id, by_key=by_key)
        if paper is not None and id(paper) in taken:
            # Listed twice on one page (say, once without its id): one appearance, but keep what it taught us.
            if item.arxiv_id and not paper.arxiv_id:
                paper.arxiv_id = item.arxiv_id
                by_id[item.arxiv_id] = paper
            continue
        if paper is None:
            paper = _new_paper(item, key, seen_on=seen_on)
            new_papers.append(paper)
            by_key.setdefault(key, []).append(paper)
            if item.arxiv_id:
                by_id[item.arxiv_id] = paper
        else:
            before[id(paper)] = _state(paper)
            if item.arxiv_id and not paper.arxiv_id:
                paper.arxiv_id = item.arxiv_id  # first seen without an id: the same paper gains it
                by_id[item.arxiv_id] = paper
            _refresh(paper, item, key, seen_on=seen_on)
            matched.append(paper)
        taken.add(id(paper))
        placed.append((paper, position, item))

    if new_papers:
        Paper.objects.bulk_create(new_papers)
    if matched:
        _save_matched(matched, before, seen_on=seen_on)
    Appearance.objects.bulk_create(
        [
            Appearance(paper=paper, document=document, listed_date=seen_on, position=position, upvotes=item.upvotes)
            for paper, position, item in placed
        ]
    )
    return len(new_papers), len(matched), len(placed)


def _match(item: ParsedPaper, key: str, *, by_id: dict[str, Paper], by_key: dict[str, list[Paper]]) -> Paper | None:
    candidates = by_key.get(key, [])
    if item.arxiv_id:
        # Same id, else a paper with this title that has no id yet (never one with a different id).
        return by_id.get(item.arxiv_id) or next((p for p in candidates if not p.arxiv_id), None)
    # No id on this page: the title decides, preferring a paper that has an id (the one every page agrees on).
    return next((p for p in candidates if p.arxiv_id), None) or (candidates[0] if candidates else None)


def _new_paper(item: ParsedPaper, key: str, *, seen_on: date) -> Paper:
    return Paper(
        arxiv_id=item.arxiv_id,
        title=item.title,
        title_key=key,
        abstract=item.abstract,
        authors=item.authors,
        links=item.links,
        published=item.published,
        upvotes=item.upvotes or 0,
        first_seen=seen_on,
        last_seen=seen_on,
        appearance_count=1,
    )


def _refresh(paper: Paper, item: ParsedPaper, key: str, *, seen_on: date) -> None:
    """Bring a known paper's text and upvotes up to date from a new listing, leaving the curator's choices alone."""
    if not paper.title_edited and item.title:
        paper.title = item.title
        paper.title_key = key
    if not paper.abstract_edited and item.abstract:
        paper.abstract = item.abstract
    if item.authors:
        paper.authors = item.authors
    if item.links:
        paper.links = {**(paper.links or {}), **item.links}
    if paper.published is None and item.published is not None:
        paper.published = item.published
    # Upvotes only grow stale: an older page ingested late must not roll the count back.
    if item.upvotes is not None and (paper.last_seen is None or seen_on >= paper.last_seen):
        paper.upvotes = item.upvotes


def _state(paper: Paper) -> dict[str, object]:
    return {name: getattr(paper, name) for name in (*_TEXT_FIELDS, "upvotes")}


def _save_matched(matched: list[Paper], before: dict[int, dict[str, object]], *, seen_on: date) -> None:
    """Counts and dates for every matched paper in one UPDATE; text and upvotes only where they changed.

    A per-row CASE over every field (what bulk_update does) costs more to build than the whole rest of the ingest;
    most listings only move the counts, which the same SQL expression updates for all rows.
    """
    day = Value(seen_on, output_field=DateField())
    Paper.objects.filter(pk__in=[paper.pk for paper in matched]).update(
        appearance_count=F("appearance_count") + 1,
        first_seen=Least(Coalesce("first_seen", day), day),
        last_seen=Greatest(Coalesce("last_seen", day), day),
        updated_at=timezone.now(),
    )
    changed: dict[str, list[Paper]] = {}
    for paper in matched:
        old = before[id(paper)]
        for name, value in _state(paper).items():
            if value != old[name]:
                changed.setdefault(name, []).append(paper)
    if "upvotes" in changed:
        Paper.objects.bulk_update(changed.pop("upvotes"), ["upvotes"])
    if changed:
        rows = {id(paper): paper for papers in changed.values() for paper in papers}
        Paper.objects.bulk_update(list(rows.values()), sorted(changed))


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
