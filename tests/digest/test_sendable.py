"""Never empty, never stale: the one rule the tick, send_edition and the admin's "send now" ask."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine

from digest.models import Edition, Frequency
from digest.sendable import Unsendable, edition_sendability
from digest.trending import edition_build
from tests.factories import make_edition, make_seen_paper

THURSDAY, FRIDAY, SATURDAY, SUNDAY, MONDAY = (date(2025, 3, d) for d in (13, 14, 15, 16, 17))


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def ingest_page(day: date, *, hour: int = 5) -> None:
    """A page listing ``day``, ingested at ``hour`` that day (time frozen, so its created_at is then)."""
    with time_machine.travel(at(day, hour), tick=False):
        make_seen_paper(listed_date=day, upvotes=3)


def build(day: date, *, status: str = Edition.Status.APPROVED, hour: int = 7) -> Edition:
    with time_machine.travel(at(day, hour), tick=False):
        edition = edition_build(date=day)
    Edition.objects.filter(pk=edition.pk).update(status=status)
    edition.refresh_from_db()
    return edition


@pytest.fixture(autouse=True)
def _skip_stale(settings) -> None:
    settings.NEWSLETTER_SKIP_STALE_DAILY = True


def test_an_edition_with_no_papers_is_never_sendable(db, settings) -> None:
    settings.NEWSLETTER_SKIP_STALE_DAILY = False
    for frequency in Frequency.values:
        verdict = edition_sendability(edition=make_edition(date=FRIDAY, frequency=frequency), allow_stale=True)
        assert verdict.problem is Unsendable.EMPTY
        assert not verdict.ok and "has no papers" in verdict.reason


def test_the_first_daily_edition_is_sendable(db) -> None:
    ingest_page(FRIDAY)
    assert edition_sendability(edition=build(FRIDAY, status=Edition.Status.DRAFT)).ok


def test_saturday_repeats_friday_and_is_stale_until_a_page_arrives(db) -> None:
    ingest_page(FRIDAY)
    build(FRIDAY)
    saturday = build(SATURDAY, status=Edition.Status.DRAFT)

    verdict = edition_sendability(edition=saturday)
    assert verdict.problem is Unsendable.STALE
    assert "repeat 2025-03-14's list" in verdict.reason
    assert edition_sendability(edition=saturday, allow_stale=True).ok

    # Friday's page came late, after Friday's edition was built: Saturday's readers have not seen it.
    ingest_page(FRIDAY, hour=12)
    assert edition_sendability(edition=saturday).ok


def test_monday_compares_with_friday_not_with_the_skipped_weekend_drafts(db) -> None:
    ingest_page(FRIDAY)
    build(FRIDAY)
    build(SATURDAY, status=Edition.Status.DRAFT)
    build(SUNDAY, status=Edition.Status.DRAFT)
    assert edition_sendability(edition=build(MONDAY, status=Edition.Status.DRAFT)).problem is Unsendable.STALE
    ingest_page(MONDAY)
    assert edition_sendability(edition=build(MONDAY, status=Edition.Status.DRAFT, hour=8)).ok


def test_the_setting_turns_the_stale_rule_off_and_weekly_editions_never_have_it(db, settings) -> None:
    ingest_page(THURSDAY)
    build(THURSDAY)
    friday = build(FRIDAY, status=Edition.Status.DRAFT)
    assert not edition_sendability(edition=friday).ok
    weekly = make_edition(date=FRIDAY, frequency=Frequency.WEEKLY, papers=[make_seen_paper(listed_date=THURSDAY)])
    assert edition_sendability(edition=weekly).ok

    settings.NEWSLETTER_SKIP_STALE_DAILY = False
    assert edition_sendability(edition=friday).ok


def test_editions_built_after_the_fact_follow_the_days_their_pages_list(db) -> None:
    """Pages of a whole week ingested at once, editions built afterwards: each weekday is news, Saturday is not."""
    with time_machine.travel(at(MONDAY, 5), tick=False):
        for day in (THURSDAY, FRIDAY):
            make_seen_paper(listed_date=day, upvotes=3)
    thursday = build(THURSDAY, status=Edition.Status.DRAFT)
    assert edition_sendability(edition=thursday).ok
    Edition.objects.filter(pk=thursday.pk).update(status=Edition.Status.SENT, built_at=at(MONDAY, 9))
    friday = build(FRIDAY, status=Edition.Status.DRAFT)
    Edition.objects.filter(pk=friday.pk).update(built_at=at(MONDAY, 9))
    friday.refresh_from_db()
    assert edition_sendability(edition=friday).ok
    Edition.objects.filter(pk=friday.pk).update(status=Edition.Status.SENT)
    saturday = build(SATURDAY, status=Edition.Status.DRAFT)
    Edition.objects.filter(pk=saturday.pk).update(built_at=at(MONDAY, 9))
    assert edition_sendability(edition=saturday).problem is Unsendable.STALE
