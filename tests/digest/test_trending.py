from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from digest.models import Edition, EditionEntry, Frequency, PaperClicks
from digest.trending import EditionFrozenError, default_subject, edition_build, score_papers
from tests.factories import make_appearance, make_paper, make_seen_paper

pytestmark = pytest.mark.django_db

DAY = date(2025, 3, 14)


def test_score_parts_add_up_and_explain_the_order() -> None:
    popular = make_seen_paper(listed_date=DAY, upvotes=255)
    quiet = make_seen_paper(listed_date=DAY, upvotes=0)

    scored = score_papers(as_of=DAY, window_days=7)

    assert [s.paper for s in scored] == [popular, quiet]
    top = scored[0]
    assert set(top.parts) == {"appearances", "position", "upvotes", "recency", "boost", "clicks"}
    assert top.parts["upvotes"] == pytest.approx(math.log2(256))
    assert top.parts["appearances"] == pytest.approx(1.0)
    # First on a page that shows upvotes: the voted-page weight times 1 / log2(2).
    assert top.parts["position"] == pytest.approx(1.0)
    assert top.parts["recency"] == pytest.approx(2.0)
    assert top.parts["boost"] == 0.0
    assert top.parts["clicks"] == 0.0
    assert top.score == pytest.approx(sum(top.parts.values()), abs=1e-3)
    assert (top.appearances, top.max_upvotes, top.last_listed) == (1, 255, DAY)


def test_more_appearances_and_recency_rank_higher() -> None:
    seen_often = make_paper()
    for offset in range(3):
        make_appearance(paper=seen_often, listed_date=DAY - timedelta(days=offset), upvotes=10)
    seen_once_today = make_seen_paper(listed_date=DAY, upvotes=10)
    seen_once_long_ago = make_seen_paper(listed_date=DAY - timedelta(days=5), upvotes=10)

    scored = score_papers(as_of=DAY, window_days=7)

    assert [s.paper for s in scored] == [seen_often, seen_once_today, seen_once_long_ago]
    assert scored[0].appearances == 3
    assert scored[2].parts["recency"] < scored[1].parts["recency"]


def test_window_excludes_older_and_future_appearances() -> None:
    inside = make_seen_paper(listed_date=DAY - timedelta(days=6))
    make_seen_paper(listed_date=DAY - timedelta(days=7))
    make_seen_paper(listed_date=DAY + timedelta(days=1))

    assert [s.paper for s in score_papers(as_of=DAY, window_days=7)] == [inside]
    assert score_papers(as_of=DAY, window_days=1) == []


def test_only_appearances_in_window_count_towards_upvotes_and_appearances() -> None:
    paper = make_paper()
    make_appearance(paper=paper, listed_date=DAY - timedelta(days=30), upvotes=1000)
    make_appearance(paper=paper, listed_date=DAY, upvotes=3)

    (scored,) = score_papers(as_of=DAY, window_days=7)

    assert scored.appearances == 1
    assert scored.max_upvotes == 3


def test_pages_without_upvotes_fall_back_to_the_papers_count() -> None:
    paper = make_paper(upvotes=7)
    make_appearance(paper=paper, listed_date=DAY, upvotes=None)

    (scored,) = score_papers(as_of=DAY, window_days=7)

    assert scored.max_upvotes == 7


def test_pinned_first_hidden_never_boost_added() -> None:
    strong = make_seen_paper(listed_date=DAY, upvotes=500)
    pinned = make_seen_paper(listed_date=DAY, upvotes=0, pinned=True)
    hidden = make_seen_paper(listed_date=DAY, upvotes=900, hidden=True)
    boosted = make_seen_paper(listed_date=DAY, upvotes=0, boost=20.0)

    scored = score_papers(as_of=DAY, window_days=7)
    papers = [s.paper for s in scored]

    assert papers[0] == pinned and scored[0].pinned
    assert hidden not in papers
    assert papers[1:] == [boosted, strong]
    assert scored[1].parts["boost"] == 20.0


def test_ties_have_a_stable_order() -> None:
    first = make_seen_paper(listed_date=DAY, upvotes=5)
    second = make_seen_paper(listed_date=DAY, upvotes=5)
    assert [s.paper for s in score_papers(as_of=DAY, window_days=7)] == [first, second]


def test_edition_build_keeps_order_scores_and_parts(settings) -> None:
    settings.NEWSLETTER_TOP_N = 2
    papers = [make_seen_paper(listed_date=DAY, upvotes=votes) for votes in (1, 100, 10)]

    edition = edition_build(date=DAY)

    entries = list(edition.entries.order_by("position"))
    assert [e.paper for e in entries] == [papers[1], papers[2]]
    assert [e.position for e in entries] == [1, 2]
    assert entries[0].score > entries[1].score
    assert entries[0].score_parts["upvotes"] == pytest.approx(math.log2(101), abs=1e-3)
    assert edition.status == Edition.Status.DRAFT
    assert edition.subject == default_subject(date=DAY, frequency="daily")
    assert "14 March 2025" in edition.subject
    assert edition.built_at is not None


def test_edition_build_is_idempotent_and_rebuilds_with_new_data() -> None:
    make_seen_paper(listed_date=DAY, upvotes=5)
    first = edition_build(date=DAY)
    before = list(first.entries.values_list("paper_id", "position", "score"))

    again = edition_build(date=DAY)

    assert again.pk == first.pk
    assert list(again.entries.values_list("paper_id", "position", "score")) == before
    assert Edition.objects.count() == 1

    newcomer = make_seen_paper(listed_date=DAY, upvotes=500)
    rebuilt = edition_build(date=DAY)
    assert rebuilt.entries.order_by("position").first().paper == newcomer
    assert EditionEntry.objects.filter(edition=rebuilt).count() == 2


def test_rebuild_keeps_curator_subject_and_intro() -> None:
    make_seen_paper(listed_date=DAY)
    edition = edition_build(date=DAY)
    Edition.objects.filter(pk=edition.pk).update(subject="A special issue", intro="Hello <readers>")

    rebuilt = edition_build(date=DAY)

    assert (rebuilt.subject, rebuilt.intro) == ("A special issue", "Hello <readers>")


@pytest.mark.parametrize(
    "status", [Edition.Status.APPROVED, Edition.Status.SENDING, Edition.Status.SENT, Edition.Status.CANCELLED]
)
def test_frozen_editions_are_not_rebuilt(status: str) -> None:
    paper = make_seen_paper(listed_date=DAY)
    edition = edition_build(date=DAY)
    Edition.objects.filter(pk=edition.pk).update(status=status)
    make_seen_paper(listed_date=DAY, upvotes=1000)

    with pytest.raises(EditionFrozenError) as caught:
        edition_build(date=DAY)

    assert caught.value.edition.pk == edition.pk
    assert list(edition.entries.values_list("paper", flat=True)) == [paper.pk]


def test_held_edition_can_be_rebuilt() -> None:
    make_seen_paper(listed_date=DAY)
    edition = edition_build(date=DAY)
    Edition.objects.filter(pk=edition.pk).update(status=Edition.Status.HELD)
    make_seen_paper(listed_date=DAY, upvotes=1000)

    assert edition_build(date=DAY).entries.count() == 2


def test_weekly_edition_takes_the_seven_days_ending_its_date(settings) -> None:
    settings.NEWSLETTER_WINDOW_DAYS = 1
    early_week = make_seen_paper(listed_date=DAY - timedelta(days=6), upvotes=50)
    today = make_seen_paper(listed_date=DAY, upvotes=1)
    make_seen_paper(listed_date=DAY - timedelta(days=7), upvotes=1000)

    weekly = edition_build(date=DAY, frequency=Frequency.WEEKLY)
    daily = edition_build(date=DAY, frequency=Frequency.DAILY)

    assert weekly.pk != daily.pk
    assert weekly.frequency == Frequency.WEEKLY
    # The week's best: an early-week paper with many upvotes beats today's quiet one.
    assert [e.paper for e in weekly.entries.order_by("position")] == [early_week, today]
    assert [e.paper for e in daily.entries.order_by("position")] == [today]
    assert "weekly" in weekly.subject


def test_an_empty_window_builds_an_empty_edition() -> None:
    edition = edition_build(date=DAY)
    assert edition.entries.count() == 0


def test_unknown_frequency_is_refused() -> None:
    with pytest.raises(ValueError, match="frequency"):
        edition_build(date=DAY, frequency="hourly")


# --- Readers' clicks ---------------------------------------------------------------------------------------


def test_readers_clicks_lift_a_paper_above_an_otherwise_equal_one() -> None:
    first = make_seen_paper(listed_date=DAY, upvotes=10)
    clicked = make_seen_paper(listed_date=DAY, upvotes=10)
    PaperClicks.objects.create(paper=clicked, day=DAY - timedelta(days=1), readers=3)

    scored = score_papers(as_of=DAY, window_days=7)

    assert [s.paper for s in scored] == [clicked, first]
    assert scored[0].parts["clicks"] == pytest.approx(math.log2(4))
    assert scored[1].parts["clicks"] == 0.0
    assert scored[0].score == pytest.approx(sum(scored[0].parts.values()), abs=1e-3)


def test_only_clicks_in_the_last_click_days_count(settings) -> None:
    settings.TRENDING_CLICK_DAYS = 3
    paper = make_seen_paper(listed_date=DAY)
    PaperClicks.objects.create(paper=paper, day=DAY - timedelta(days=3), readers=100)  # too old
    PaperClicks.objects.create(paper=paper, day=DAY - timedelta(days=2), readers=2)
    PaperClicks.objects.create(paper=paper, day=DAY, readers=1)
    PaperClicks.objects.create(paper=paper, day=DAY + timedelta(days=1), readers=100)  # after the edition's day

    assert score_papers(as_of=DAY, window_days=7)[0].parts["clicks"] == pytest.approx(2.0)


def test_the_click_weight_scales_the_part_and_zero_turns_it_off(settings) -> None:
    paper = make_seen_paper(listed_date=DAY)
    PaperClicks.objects.create(paper=paper, day=DAY, readers=7)

    settings.TRENDING_CLICK_WEIGHT = 0.5
    assert score_papers(as_of=DAY, window_days=7)[0].parts["clicks"] == pytest.approx(1.5)

    settings.TRENDING_CLICK_WEIGHT = 0
    parts = score_papers(as_of=DAY, window_days=7)[0].parts
    assert "clicks" not in parts


def test_the_clicks_part_is_kept_on_the_edition_entry() -> None:
    paper = make_seen_paper(listed_date=DAY)
    PaperClicks.objects.create(paper=paper, day=DAY, readers=1)

    edition = edition_build(date=DAY)

    assert edition.entries.get().score_parts["clicks"] == pytest.approx(1.0)
