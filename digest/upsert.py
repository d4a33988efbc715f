"""The upsert half of ingestion: a parsed page's papers matched to the stored ones, created or refreshed, and its
appearances recorded.

Papers are matched by arXiv id, else by title key; a paper first seen without an id gains it when a later page has
one. A listing updates counts, dates, upvotes and bibliographic fields, and never touches the curator's fields
(pinned, hidden, boost, note), a title or abstract whose ``*_edited`` flag is set, nor an extra (TL;DR, code,
project page) named in ``edited_fields``. A fixed handful of queries per page, however many papers it lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.db.models import DateField, F, Q, Value
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone

from digest.models import Appearance, DigestDocument, Paper
from digest.normalize import title_key
from digest.parsers import ParsedDocument, ParsedPaper

# Fields a new listing may change; counts and dates are updated in SQL for every matched paper.
_TEXT_FIELDS = (
    "arxiv_id",
    "title",
    "title_key",
    "abstract",
    "authors",
    "links",
    "published",
    *Paper.CURATED_EXTRAS,
)
# Counts that only the newest listing may set: an older page ingested late must not roll them back.
_COUNT_FIELDS = ("upvotes", "github_stars", "num_comments")


@dataclass
class UpsertResult:
    created: int
    updated: int
    appearances: int
    # Papers of this page still without an arXiv id: the title lookup's to-do list.
    unresolved_ids: list[int] = field(default_factory=list)


def papers_upsert(*, document: DigestDocument, parsed: ParsedDocument, today: date) -> UpsertResult:
    """Create or update the document's papers and its appearances. Runs inside the caller's transaction."""
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
    unresolved = [paper.pk for paper, _, _ in placed if not paper.arxiv_id]
    return UpsertResult(
        created=len(new_papers), updated=len(matched), appearances=len(placed), unresolved_ids=unresolved
    )


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
        ai_summary=item.ai_summary,
        github_repo=item.github_repo,
        github_stars=item.github_stars,
        project_page=item.project_page,
        num_comments=item.num_comments,
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
    edited = set(paper.edited_fields or [])
    for name in Paper.CURATED_EXTRAS:
        value = getattr(item, name)
        if value and name not in edited:
            setattr(paper, name, value)
    # Counts only grow stale: an older page ingested late must not roll them back.
    if paper.last_seen is None or seen_on >= paper.last_seen:
        for name in _COUNT_FIELDS:
            value = getattr(item, name)
            if value is not None:
                setattr(paper, name, value)


def _state(paper: Paper) -> dict[str, object]:
    return {name: getattr(paper, name) for name in (*_TEXT_FIELDS, *_COUNT_FIELDS)}


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
