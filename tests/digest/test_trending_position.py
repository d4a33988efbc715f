"""Ranking by the page: a paper's position on each page is a score part, strongest where the page shows no upvotes,
and an edition built from one page follows that page's order."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest

from digest.ingest import ingest_bytes
from digest.normalize import title_key
from digest.parsers import parse
from digest.trending import POSITION_WEIGHT, VOTED_POSITION_WEIGHT, edition_build, score_papers
from tests.factories import make_appearance, make_document, make_paper

pytestmark = pytest.mark.django_db

DAY = date(2025, 3, 14)
# The day after the later seed page (Mar 21): the issue's 2025-03-22 edition.
EDITION_DAY = date(2025, 3, 22)


def _seed_pages(shared_dir: Path) -> dict[date, bytes]:
    """The two real seed pages by the day each lists (read from ../shared, never copied)."""
    pages = {}
    for path in sorted((shared_dir / "seeds").glob("*.txt")):
        data = path.read_bytes()
        pages[parse(data, today=EDITION_DAY).listed_date] = data
    assert sorted(pages) == [date(2025, 3, 14), date(2025, 3, 21)]
    return pages


def _page_keys(data: bytes) -> list[str]:
    return [title_key(paper.title) for paper in parse(data, today=EDITION_DAY).papers]


def _entry_keys(edition) -> list[str]:
    return [entry.paper.title_key for entry in edition.entries.select_related("paper").order_by("position")]


def test_position_part_is_strongest_on_a_page_without_upvotes() -> None:
    unvoted_page = make_document(listed_date=DAY)
    voted_page = make_document(listed_date=DAY)
    first_unvoted, third_unvoted = make_paper(), make_paper()
    make_appearance(paper=first_unvoted, listed_date=DAY, position=1, document=unvoted_page)
    make_appearance(paper=third_unvoted, listed_date=DAY, position=3, document=unvoted_page)
    first_voted = make_paper()
    make_appearance(paper=first_voted, listed_date=DAY, position=1, upvotes=0, document=voted_page)

    parts = {s.paper: s.parts["position"] for s in score_papers(as_of=DAY, window_days=1)}

    assert parts[first_unvoted] == pytest.approx(POSITION_WEIGHT)
    assert parts[third_unvoted] == pytest.approx(POSITION_WEIGHT / math.log2(4), abs=1e-4)
    assert parts[first_voted] == pytest.approx(VOTED_POSITION_WEIGHT)
    assert parts[first_voted] < parts[first_unvoted]


def test_listings_add_up_weighted_by_recency() -> None:
    paper = make_paper()
    make_appearance(paper=paper, listed_date=DAY, position=1)
    make_appearance(paper=paper, listed_date=date(2025, 3, 11), position=1)  # three days old: two half-lives

    (scored,) = score_papers(as_of=DAY, window_days=7, half_life_days=1.5)

    assert scored.parts["position"] == pytest.approx(POSITION_WEIGHT * (1 + 0.25))
    assert scored.best_position == 1


def test_equal_scores_break_ties_by_best_position_then_id() -> None:
    # Second on two different pages of the same day: equal scores, equal best positions.
    pages = [make_document(listed_date=DAY) for _ in range(2)]
    second_a, second_b = make_paper(), make_paper()
    make_appearance(paper=second_b, listed_date=DAY, position=2, document=pages[1])
    make_appearance(paper=second_a, listed_date=DAY, position=2, document=pages[0])
    tied = score_papers(as_of=DAY, window_days=1)

    assert tied[0].score == tied[1].score
    assert [s.paper for s in tied] == [second_a, second_b]  # the older row first
    assert [s.paper for s in score_papers(as_of=DAY, window_days=1)] == [second_a, second_b]  # and again


def test_a_better_position_wins_a_tie_before_the_id() -> None:
    # 7th on a page without upvotes scores 3 / log2(8) = 1, exactly what 1st on a page with upvotes scores.
    seventh = make_paper()
    first = make_paper()
    make_appearance(paper=seventh, listed_date=DAY, position=7, document=make_document(listed_date=DAY))
    make_appearance(paper=first, listed_date=DAY, position=1, upvotes=0, document=make_document(listed_date=DAY))

    tied = score_papers(as_of=DAY, window_days=1)

    assert tied[0].score == tied[1].score
    assert [s.paper for s in tied] == [first, seventh]


def test_hidden_papers_still_tell_whether_a_page_shows_upvotes() -> None:
    page = make_document(listed_date=DAY)
    hidden = make_paper(hidden=True)
    shown = make_paper()
    make_appearance(paper=hidden, listed_date=DAY, position=1, upvotes=40, document=page)
    make_appearance(paper=shown, listed_date=DAY, position=2, upvotes=None, document=page)

    (scored,) = score_papers(as_of=DAY, window_days=1)

    assert scored.paper == shown
    assert scored.parts["position"] == pytest.approx(VOTED_POSITION_WEIGHT / math.log2(3), abs=1e-4)


@pytest.mark.parametrize("listed", [date(2025, 3, 14), date(2025, 3, 21)])
def test_an_edition_from_one_seed_page_follows_the_page_order(shared_dir: Path, settings, listed: date) -> None:
    data = _seed_pages(shared_dir)[listed]
    page = _page_keys(data)
    ingest_bytes(data, origin=f"seed {listed}", today=listed)
    settings.NEWSLETTER_TOP_N = len(page)

    edition = edition_build(date=listed)

    assert _entry_keys(edition) == page
    entries = list(edition.entries.order_by("position"))
    assert all(entry.score_parts["position"] > 0 for entry in entries)
    # The page showed no upvotes: the position is the only part that differs, and it is what orders the list.
    assert [e.score for e in entries] == sorted((e.score for e in entries), reverse=True)
    assert len({e.score for e in entries}) == len(entries)


def test_the_issues_edition_puts_the_last_paper_of_the_page_last(shared_dir: Path, settings) -> None:
    pages = _seed_pages(shared_dir)
    for listed, data in pages.items():
        ingest_bytes(data, origin=f"seed {listed}", today=EDITION_DAY)
    later = _page_keys(pages[date(2025, 3, 21)])

    # The default 7-day window for Mar 22 holds only the Mar 21 page: its top ten, in its order.
    edition = edition_build(date=EDITION_DAY)

    assert _entry_keys(edition) == later[:10]
    assert later[-1] not in _entry_keys(edition)


def test_an_edition_from_both_seed_pages_ranks_the_newer_page_first_in_its_order(shared_dir: Path, settings) -> None:
    """What is asserted, with both pages in the window (edition of Mar 21, 8-day window):

    1. every paper of the Mar 21 page ranks above every paper listed only on Mar 14 (a week-old listing has
       decayed through more than four half-lives);
    2. the papers listed only on Mar 21 keep that page's order, and those listed only on Mar 14 keep theirs;
    3. a paper listed on both pages ranks above every Mar-21-only paper that page put below it: the second
       listing counts for something, so it never falls behind where the newer page alone put it.
    """
    pages = _seed_pages(shared_dir)
    for listed, data in pages.items():
        ingest_bytes(data, origin=f"seed {listed}", today=EDITION_DAY)
    older, newer = _page_keys(pages[date(2025, 3, 14)]), _page_keys(pages[date(2025, 3, 21)])
    both = set(older) & set(newer)
    assert len(both) == 5  # the two real pages share five papers
    settings.NEWSLETTER_WINDOW_DAYS = 8
    settings.NEWSLETTER_TOP_N = len(set(older) | set(newer))

    ranked = _entry_keys(edition_build(date=date(2025, 3, 21)))

    assert sorted(ranked) == sorted(set(older) | set(newer))
    rank = {key: index for index, key in enumerate(ranked)}
    older_only = [key for key in older if key not in both]
    newer_only = [key for key in newer if key not in both]
    assert max(rank[key] for key in newer) < min(rank[key] for key in older_only)  # 1
    assert [key for key in ranked if key in newer_only] == newer_only  # 2
    assert [key for key in ranked if key in older_only] == older_only  # 2
    for key in both:  # 3
        below = newer[newer.index(key) + 1 :]
        assert all(rank[key] < rank[other] for other in below if other in newer_only)
    assert _entry_keys(edition_build(date=date(2025, 3, 21))) == ranked  # deterministic on a rebuild
