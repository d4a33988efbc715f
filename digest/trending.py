"""The trending list: score the papers seen in a window, and build an edition from the best of them.

A paper's score is the sum of its parts, each kept on its edition entry so a curator can see why it is there:

- ``appearances``: how often it was listed in the window, each listing weighted by its recency (a paper listed
  every day of the week outranks one listed once);
- ``position``: where each page put it, the page's own ranking: ``1 / log2(1 + position)`` per listing (1 for the
  top, 0.5 for the third, 0.21 for the 26th; a discount that does not depend on the page's length), weighted by
  the listing's recency, by ``POSITION_WEIGHT`` on a page that shows no upvotes (the plain-text rendering, where
  the order is all the page says) and by ``VOTED_POSITION_WEIGHT`` on one that does (its upvotes already speak);
- ``upvotes``: log2(1 + the most upvotes seen in the window), so 1,000 upvotes do not drown everything else;
- ``recency``: ``RECENCY_WEIGHT`` halving every ``half_life_days`` since the paper was last listed;
- ``boost``: the curator's boost, added as is;
- ``clicks``: ``TRENDING_CLICK_WEIGHT`` * log2(1 + readers who clicked the paper in the newsletter in the last
  ``TRENDING_CLICK_DAYS`` days, scanners left out); absent when the weight is 0.

Pinned papers come first (by score among themselves), hidden papers never appear. Equal scores are ordered by
upvotes, then by the best position the paper held on any page in the window, then by paper id: the same data always
gives the same order.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date as Date
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from digest import edition_states
from digest.models import Appearance, Edition, EditionEntry, Frequency, Paper
from digest.readership import clicks_part, recent_readers

APPEARANCE_WEIGHT = 1.0
POSITION_WEIGHT = 3.0
VOTED_POSITION_WEIGHT = 1.0
UPVOTE_WEIGHT = 1.0
RECENCY_WEIGHT = 2.0
# A daily edition should favour what is new today; a weekly one weighs the whole week almost evenly.
DAILY_HALF_LIFE_DAYS = 1.5
WEEKLY_HALF_LIFE_DAYS = 7.0
WEEKLY_WINDOW_DAYS = 7


class EditionFrozenError(Exception):
    """The edition is approved, sending, sent or cancelled and is not rebuilt; ``edition`` is it, unchanged."""

    def __init__(self, edition: Edition) -> None:
        self.edition = edition
        super().__init__(f"{edition} is {edition.status}: it is not rebuilt.")


@dataclass(frozen=True, slots=True)
class ScoredPaper:
    paper: Paper
    score: float
    parts: dict[str, float]
    appearances: int
    max_upvotes: int
    last_listed: Date
    best_position: int = 0
    pinned: bool = field(default=False)


def _round(value: float) -> float:
    return round(value, 4)


def score_papers(
    *,
    as_of: Date,
    window_days: int,
    half_life_days: float = DAILY_HALF_LIFE_DAYS,
    limit: int | None = None,
) -> list[ScoredPaper]:
    """The papers listed in the ``window_days`` days ending ``as_of`` (inclusive), best first.

    Pinned papers come first, hidden papers are left out; ``limit`` cuts the list after ordering.
    Three queries, however many papers: the window's appearances, their papers, their readers' clicks.
    """
    if window_days < 1:
        raise ValueError("window_days must be at least 1")
    start = as_of - timedelta(days=window_days - 1)
    # Hidden papers' rows are read too: whether a page shows upvotes is a fact about the whole page.
    rows = Appearance.objects.filter(listed_date__gte=start, listed_date__lte=as_of).values_list(
        "paper_id", "document_id", "listed_date", "position", "upvotes"
    )

    listings: dict[int, list[tuple[int, int, int]]] = defaultdict(list)  # paper -> (age, document, position)
    upvotes: dict[int, int] = {}
    voted_pages: set[int] = set()
    for paper_id, document_id, listed, position, votes in rows:
        if listed is None:  # never, given the range filter; the column is nullable for undated pages
            continue
        listings[paper_id].append(((as_of - listed).days, document_id, position))
        if votes is not None:
            upvotes[paper_id] = max(upvotes.get(paper_id, 0), votes)
            voted_pages.add(document_id)
    if not listings:
        return []
    papers = Paper.objects.in_bulk(list(listings))
    clicks_on = settings.TRENDING_CLICK_WEIGHT > 0
    readers = recent_readers(as_of=as_of) if clicks_on else {}

    scored: list[ScoredPaper] = []
    for paper_id, paper_listings in listings.items():
        paper = papers.get(paper_id)
        if paper is None or paper.hidden:  # hidden, or deleted between the two queries
            continue
        # Pages without upvotes (the plain-text rendering) leave the paper's own latest count as the best guess.
        votes = upvotes.get(paper_id, max(paper.upvotes, 0))
        newest = min(age for age, _, _ in paper_listings)
        position_score = sum(
            (VOTED_POSITION_WEIGHT if document_id in voted_pages else POSITION_WEIGHT)
            * 0.5 ** (age / half_life_days)
            / math.log2(1 + max(position, 1))
            for age, document_id, position in paper_listings
        )
        parts = {
            "appearances": _round(
                APPEARANCE_WEIGHT * sum(0.5 ** (age / half_life_days) for age, _, _ in paper_listings)
            ),
            "position": _round(position_score),
            "upvotes": _round(UPVOTE_WEIGHT * math.log2(1 + votes)),
            "recency": _round(RECENCY_WEIGHT * 0.5 ** (newest / half_life_days)),
            "boost": _round(paper.boost),
        }
        if clicks_on:
            parts["clicks"] = _round(clicks_part(readers.get(paper_id, 0)))
        scored.append(
            ScoredPaper(
                paper=paper,
                score=_round(sum(parts.values())),
                parts=parts,
                appearances=len(paper_listings),
                max_upvotes=votes,
                last_listed=as_of - timedelta(days=newest),
                best_position=min(position for _, _, position in paper_listings),
                pinned=paper.pinned,
            )
        )
    scored.sort(key=lambda s: (not s.pinned, -s.score, -s.max_upvotes, s.best_position, s.paper.pk))
    return scored[:limit] if limit is not None else scored


def window_for(frequency: str) -> tuple[int, float]:
    """(window_days, half_life_days) for an edition of this frequency."""
    if frequency == Frequency.WEEKLY:
        return WEEKLY_WINDOW_DAYS, WEEKLY_HALF_LIFE_DAYS
    if frequency == Frequency.DAILY:
        return settings.NEWSLETTER_WINDOW_DAYS, DAILY_HALF_LIFE_DAYS
    raise ValueError(f"unknown frequency {frequency!r}")


def default_subject(*, date: Date, frequency: str) -> str:
    day = f"{date:%A} {date.day} {date:%B %Y}"
    if frequency == Frequency.WEEKLY:
        return f"{settings.NEWSLETTER_NAME} weekly: the week to {day}"
    return f"{settings.NEWSLETTER_NAME}: {day}"


def edition_build(*, date: Date, frequency: str = Frequency.DAILY, top_n: int | None = None) -> Edition:
    """Create or rebuild the edition for ``date`` with its ordered, scored entries. Idempotent.

    Weekly editions score the 7 days ending ``date``. The curator's subject and intro are kept. An edition that is
    approved, sending, sent or cancelled is not touched: ``EditionFrozenError`` carries it unchanged.
    """
    window_days, half_life = window_for(frequency)
    top_n = top_n or settings.NEWSLETTER_TOP_N
    with transaction.atomic():
        edition, _ = Edition.objects.get_or_create(
            date=date, frequency=frequency, defaults={"subject": default_subject(date=date, frequency=frequency)}
        )
        # The row lock makes two concurrent builds (beat firing twice, a curator's click) take turns.
        edition = Edition.objects.select_for_update().get(pk=edition.pk)
        if edition.status in edition_states.FROZEN:
            raise EditionFrozenError(edition)
        scored = score_papers(as_of=date, window_days=window_days, half_life_days=half_life, limit=top_n)
        EditionEntry.objects.filter(edition=edition).delete()
        EditionEntry.objects.bulk_create(
            EditionEntry(
                edition=edition,
                paper=item.paper,
                position=position,
                score=item.score,
                score_parts=item.parts,
                pinned=item.pinned,
            )
            for position, item in enumerate(scored, start=1)
        )
        if not edition.subject:
            edition.subject = default_subject(date=date, frequency=frequency)
        edition.built_at = timezone.now()
        # Any snapshot belongs to the old entries.
        edition.rendered_html = ""
        edition.rendered_text = ""
        edition.save(update_fields=["subject", "built_at", "rendered_html", "rendered_text"])
    return edition
