"""Every paper reachable: a paper listed without an arXiv id (the plain-text rendering has none) is looked up by its
exact title, and what is found fills its id, authors and links.

Ingestion hands over the page's unresolved papers once its transaction commits (``enrichment_enqueue``); a Celery
task (``digest.tasks.enrich_papers``) calls ``enrich_paper`` for each, and beat's ``enrich_unresolved`` catches
whatever was missed (a broker that was down, a lookup that was deferred too often). Answers are cached per
normalized title: found ones for a month, misses and unreadable answers for ``ENRICH_MISS_HOURS``, so a title that
matched nothing is not asked about on every ingest. Requests wait their turn in the shared throttle.

What is found only fills what is empty: the id, the authors when there are none, links under keys not yet taken,
the abstract when there is none and it was not edited, the TL;DR / code / project page when empty and not curated.
Titles and the curator's fields are never written.

The id found may already belong to another row (the same paper listed once under an older title): that row is left
alone and this one is not merged into it, because its appearances, edition entries and readers' clicks and votes
(rows in ``subscribers``, which ``digest`` must not reach into) all point at it. It keeps its own identity, is marked
``duplicate`` with the other row named in its note, and gets the arXiv link, so readers can open it; a curator can
hide one of the two.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from celery import signature
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from digest.lookups import (
    LookupDeferred,
    LookupFailed,
    LookupSource,
    Match,
    enabled_sources,
    exact_match,
    search,
)
from digest.models import ARXIV_ABS_URL, LookupStatus, Paper
from digest.normalize import title_key
from digest.parsers import ParsedPaper

logger = logging.getLogger(__name__)

ENRICH_TASK = "digest.tasks.enrich_papers"
BATCH_SIZE = 20  # papers per task: about a minute of arXiv's three-second spacing
FOUND_CACHE_SECONDS = 30 * 24 * 3600
# A task waits this long at most for its turn to ask; longer, and it is retried later instead of idling a worker.
TASK_MAX_WAIT = 30.0
_CACHE_VERSION = "v1"


class EnrichOutcome(StrEnum):
    FOUND = "found"
    NOT_FOUND = "not found"
    DUPLICATE = "duplicate"
    FAILED = "failed"
    SKIPPED = "skipped"  # gone, hidden, or already has an id


@dataclass(frozen=True)
class EnrichResult:
    paper_id: int
    outcome: EnrichOutcome
    note: str = ""

    def describe(self) -> str:
        return f"paper {self.paper_id}: {self.outcome.value}{f' ({self.note})' if self.note else ''}"


@dataclass(frozen=True)
class _Answer:
    status: LookupStatus
    match: Match | None = None
    note: str = ""


def lookups_enabled() -> bool:
    return bool(enabled_sources())


def enrichment_enqueue(*, paper_ids: list[int]) -> None:
    """Queue lookups for these papers once the current transaction commits (at once outside one)."""
    if not paper_ids or not lookups_enabled():
        return
    ids = list(paper_ids)
    # robust: a broker that is down must not turn a committed ingest into an error; beat's sweep covers them.
    transaction.on_commit(lambda: _send(ids), robust=True)


def _send(paper_ids: list[int]) -> None:
    for start in range(0, len(paper_ids), BATCH_SIZE):
        # By name: ingestion (which calls this) is imported by the tasks module, not the other way round.
        signature(ENRICH_TASK, args=(paper_ids[start : start + BATCH_SIZE],)).apply_async()


def unresolved_paper_ids(*, limit: int, now: datetime | None = None) -> list[int]:
    """Visible papers without an id that were never looked up, or whose last miss is older than ENRICH_MISS_HOURS;
    the most recently listed first."""
    stale = (now or timezone.now()) - timedelta(hours=settings.ENRICH_MISS_HOURS)
    return list(
        Paper.objects.filter(arxiv_id__isnull=True, hidden=False)
        .filter(Q(looked_up_at__isnull=True) | Q(looked_up_at__lt=stale))
        .exclude(lookup_status=LookupStatus.DUPLICATE)
        .order_by("-last_seen", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def enrich_paper(*, paper_id: int, max_wait: float = TASK_MAX_WAIT) -> EnrichResult:
    """Look one paper's title up and fill in what is found. Raises LookupDeferred when it should be asked later
    (the paper is then untouched and nothing is remembered)."""
    paper = Paper.objects.filter(pk=paper_id).only("pk", "title", "arxiv_id", "hidden").first()
    # Lookups turned off after this was queued: nobody to ask, and nothing to remember as a miss.
    if paper is None or paper.arxiv_id or paper.hidden or not lookups_enabled():
        return EnrichResult(paper_id, EnrichOutcome.SKIPPED)
    answer = _lookup(title=paper.title, max_wait=max_wait)
    if answer.match is None:
        return _record_miss(paper, answer)
    return _apply(paper_id, answer.match)


# --- Asking, through the cache ---------------------------------------------------------------------------


def lookup_forget(*, titles: list[str]) -> None:
    """Drop cached answers for these titles, so the next lookup asks the APIs again (a curator asked for it)."""
    if titles:
        cache.delete_many([_cache_key(title) for title in titles])


def _cache_key(title: str) -> str:
    sources = "+".join(source.value for source in enabled_sources())
    digest = hashlib.sha256(title_key(title).encode()).hexdigest()[:32]
    return f"enrich:{_CACHE_VERSION}:{sources}:{digest}"


def _lookup(*, title: str, max_wait: float) -> _Answer:
    key = _cache_key(title)
    cached = cache.get(key)
    if isinstance(cached, dict):
        return _answer_from_cache(cached)
    answer = _ask(title=title, max_wait=max_wait)
    if answer.status == LookupStatus.FOUND:
        cache.set(key, _answer_to_cache(answer), timeout=FOUND_CACHE_SECONDS)
    elif settings.ENRICH_MISS_HOURS:
        cache.set(key, _answer_to_cache(answer), timeout=settings.ENRICH_MISS_HOURS * 3600)
    return answer


def _ask(*, title: str, max_wait: float) -> _Answer:
    """arXiv first, then Hugging Face when arXiv has no exact match; deferred only if nobody could answer."""
    deferred: LookupDeferred | None = None
    failures: list[str] = []
    notes: list[str] = []
    for source in enabled_sources():
        try:
            candidates = search(source=source, title=title, max_wait=max_wait)
        except LookupDeferred as exc:
            logger.warning("title lookup deferred for %r: %s", title[:120], exc)
            deferred = deferred or exc
            continue
        except LookupFailed as exc:
            logger.error("title lookup failed for %r, paper left unchanged: %s", title[:120], exc)
            failures.append(str(exc)[:140])
            continue
        found, note = exact_match(title=title, candidates=candidates)
        if found is not None:
            return _Answer(LookupStatus.FOUND, Match(source=source, paper=found), f"found on {source.label}")
        notes.append(f"{source.label}: {note}")
    if deferred is not None:
        raise deferred
    if failures:
        return _Answer(LookupStatus.FAILED, note="; ".join(failures))
    return _Answer(LookupStatus.NOT_FOUND, note="; ".join(notes))


def _answer_to_cache(answer: _Answer) -> dict[str, Any]:
    stored: dict[str, Any] = {"status": answer.status.value, "note": answer.note}
    if answer.match is not None:
        paper = dataclasses.asdict(answer.match.paper)
        paper["published"] = paper["published"].isoformat() if paper["published"] else None
        stored.update(source=answer.match.source.value, paper=paper)
    return stored


def _answer_from_cache(stored: dict[str, Any]) -> _Answer:
    match = None
    if stored.get("paper"):
        fields = dict(stored["paper"])
        fields["published"] = date.fromisoformat(fields["published"]) if fields.get("published") else None
        match = Match(source=LookupSource(stored["source"]), paper=ParsedPaper(**fields))
    return _Answer(LookupStatus(stored["status"]), match, stored.get("note", ""))


# --- Writing what was found ----------------------------------------------------------------------------------


def _record_miss(paper: Paper, answer: _Answer) -> EnrichResult:
    # Conditional: a curator (or an ingest) that filled the id meanwhile is not marked as a miss.
    Paper.objects.filter(pk=paper.pk, arxiv_id__isnull=True).update(
        lookup_status=answer.status, looked_up_at=timezone.now(), lookup_note=answer.note[:300]
    )
    outcome = EnrichOutcome.FAILED if answer.status == LookupStatus.FAILED else EnrichOutcome.NOT_FOUND
    return EnrichResult(paper.pk, outcome, answer.note)


def _apply(paper_id: int, match: Match) -> EnrichResult:
    found = match.paper
    try:
        with transaction.atomic():
            paper = Paper.objects.select_for_update().filter(pk=paper_id).first()
            if paper is None or paper.arxiv_id:
                return EnrichResult(paper_id, EnrichOutcome.SKIPPED)
            owner = Paper.objects.filter(arxiv_id=found.arxiv_id).exclude(pk=paper_id).first()
            if owner is not None:
                return _mark_duplicate(paper, match, owner)
            changed = _fill(paper, match)
            paper.save(update_fields=[*changed, "updated_at"])
    except IntegrityError:
        # An ingest gave another row this id between our check and our write: the same case as above.
        with transaction.atomic():
            paper = Paper.objects.select_for_update().get(pk=paper_id)
            owner = Paper.objects.filter(arxiv_id=found.arxiv_id).exclude(pk=paper_id).first()
            if paper.arxiv_id or owner is None:
                return EnrichResult(paper_id, EnrichOutcome.SKIPPED)
            return _mark_duplicate(paper, match, owner)
    logger.info("title lookup: paper %s is arXiv %s (%s)", paper_id, found.arxiv_id, match.source.label)
    return EnrichResult(paper_id, EnrichOutcome.FOUND, f"arXiv {found.arxiv_id} on {match.source.label}")


def _fill(paper: Paper, match: Match) -> list[str]:
    """Set the id and fill only what is empty; the names of the fields changed."""
    found = match.paper
    paper.arxiv_id = found.arxiv_id
    changed = ["arxiv_id", "lookup_status", "looked_up_at", "lookup_note", "links"]
    paper.lookup_status = LookupStatus.FOUND
    paper.looked_up_at = timezone.now()
    paper.lookup_note = f"found on {match.source.label}"
    links = dict(paper.links or {})
    links.setdefault("arxiv", ARXIV_ABS_URL.format(found.arxiv_id))
    links.setdefault("pdf", f"https://arxiv.org/pdf/{found.arxiv_id}")
    if match.source is LookupSource.HF:
        links.setdefault("hf", f"https://huggingface.co/papers/{found.arxiv_id}")
    paper.links = links
    if not paper.authors and found.authors:
        paper.authors, changed = found.authors, [*changed, "authors"]
    if not paper.abstract and not paper.abstract_edited and found.abstract:
        paper.abstract, changed = found.abstract, [*changed, "abstract"]
    if paper.published is None and found.published is not None:
        paper.published, changed = found.published, [*changed, "published"]
    edited = set(paper.edited_fields or [])
    for name in Paper.CURATED_EXTRAS:
        if not getattr(paper, name) and name not in edited and getattr(found, name):
            setattr(paper, name, getattr(found, name))
            changed.append(name)
    for name in ("github_stars", "num_comments"):
        if getattr(paper, name) is None and getattr(found, name) is not None:
            setattr(paper, name, getattr(found, name))
            changed.append(name)
    return changed


def _mark_duplicate(paper: Paper, match: Match, owner: Paper) -> EnrichResult:
    arxiv_id = match.paper.arxiv_id
    note = f"arXiv {arxiv_id} already belongs to paper #{owner.pk} ({owner.title[:80]})"
    links = dict(paper.links or {})
    links.setdefault("arxiv", ARXIV_ABS_URL.format(arxiv_id))
    paper.links = links
    paper.lookup_status = LookupStatus.DUPLICATE
    paper.looked_up_at = timezone.now()
    paper.lookup_note = note[:300]
    paper.save(update_fields=["links", "lookup_status", "looked_up_at", "lookup_note", "updated_at"])
    logger.warning("title lookup: paper %s is a duplicate: %s; left unmerged", paper.pk, note)
    return EnrichResult(paper.pk, EnrichOutcome.DUPLICATE, note)
