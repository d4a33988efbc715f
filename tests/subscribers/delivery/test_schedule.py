"""The schedule: today's editions built when due, fanned out to whoever's morning it is."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from digest.models import Edition, Frequency
from subscribers.delivery.fanout import Span
from subscribers.delivery.schedule import newsletter_tick, subscriber_due
from subscribers.models import Delivery
from tests.factories import make_seen_paper
from tests.subscribers.delivery.helpers import TODAY
from tests.subscribers.factories import make_subscriber


def test_tick_builds_approves_and_fans_out_to_whose_morning_it_is(db, settings) -> None:
    settings.NEWSLETTER_SEND_HOUR = 7
    settings.NEWSLETTER_SEND_CATCHUP_HOURS = 3
    settings.NEWSLETTER_APPROVAL_REQUIRED = False
    make_seen_paper(listed_date=TODAY, upvotes=50)
    london = make_subscriber(time_zone="Europe/London")  # UTC in March: 07:30 local
    new_york = make_subscriber(time_zone="America/New_York")  # 03:30 local: not yet
    weekly = make_subscriber(frequency=Frequency.WEEKLY)  # 2025-03-14 is a Friday: no weekly edition
    now = datetime(2025, 3, 14, 7, 30, tzinfo=UTC)

    batches = newsletter_tick(now=now)

    edition = Edition.objects.get(date=TODAY, frequency=Frequency.DAILY)
    assert edition.status == Edition.Status.SENDING
    assert [batch.chunks for batch in batches] == [[Span(london.pk, london.pk, 1)]]
    assert not Delivery.objects.filter(subscriber__in=[new_york, weekly]).exists()
    assert newsletter_tick(now=now) == []  # firing again: nobody new

    later = datetime(2025, 3, 14, 11, 30, tzinfo=UTC)  # 07:30 in New York
    assert [batch.chunks for batch in newsletter_tick(now=later)] == [[Span(new_york.pk, new_york.pk, 1)]]


def test_tick_waits_for_approval_when_required(db, settings) -> None:
    settings.NEWSLETTER_SEND_HOUR = 7
    settings.NEWSLETTER_APPROVAL_REQUIRED = True
    make_seen_paper(listed_date=TODAY, upvotes=50)
    make_subscriber()
    now = datetime(2025, 3, 14, 7, 5, tzinfo=UTC)

    assert newsletter_tick(now=now) == []
    edition = Edition.objects.get(date=TODAY)
    assert edition.status == Edition.Status.DRAFT

    Edition.objects.filter(pk=edition.pk).update(status=Edition.Status.APPROVED)
    assert len(newsletter_tick(now=now + timedelta(minutes=5))) == 1


def test_tick_sends_weekly_subscribers_the_weekly_edition_on_its_day(db, settings) -> None:
    settings.NEWSLETTER_SEND_HOUR = 7
    settings.NEWSLETTER_WEEKLY_WEEKDAY = 0
    monday = date(2025, 3, 17)
    make_seen_paper(listed_date=monday - timedelta(days=2), upvotes=50)
    daily, weekly = make_subscriber(), make_subscriber(frequency=Frequency.WEEKLY)
    batches = newsletter_tick(now=datetime(2025, 3, 17, 7, 0, tzinfo=UTC))
    by_edition = {Edition.objects.get(pk=b.edition_id).frequency: b.chunks for b in batches}
    assert by_edition == {
        Frequency.DAILY: [Span(daily.pk, daily.pk, 1)],
        Frequency.WEEKLY: [Span(weekly.pk, weekly.pk, 1)],
    }


def test_an_empty_edition_is_not_sent(db, settings, caplog) -> None:
    settings.NEWSLETTER_SEND_HOUR = 7
    settings.NEWSLETTER_APPROVAL_REQUIRED = False
    make_subscriber()
    assert newsletter_tick(now=datetime(2025, 3, 14, 7, 0, tzinfo=UTC)) == []
    assert Edition.objects.get(date=TODAY).status == Edition.Status.DRAFT  # not approved, so not in the archive
    assert "has no papers" in caplog.text
    assert not Delivery.objects.exists()


@pytest.mark.parametrize(("skip_stale", "days_sent"), [(True, [14, 17]), (False, [14, 15, 16, 17])])
def test_the_weekend_repeats_nothing_unless_the_setting_is_off(
    db, settings, caplog, skip_stale: bool, days_sent: list[int]
) -> None:
    """Friday's page, then nothing until Monday's (the source publishes on weekdays): a tick each morning."""
    settings.NEWSLETTER_SEND_HOUR = 7
    settings.NEWSLETTER_APPROVAL_REQUIRED = False
    settings.NEWSLETTER_SKIP_STALE_DAILY = skip_stale
    settings.NEWSLETTER_WEEKLY_WEEKDAY = 2  # no weekly edition in the way
    reader = make_subscriber(time_zone="UTC")
    for day in (14, 15, 16, 17):  # Friday 14 March 2025 to Monday
        if day in (14, 17):
            with time_machine.travel(datetime(2025, 3, day, 5, 0, tzinfo=UTC), tick=False):
                make_seen_paper(listed_date=date(2025, 3, day), upvotes=10)
        now = datetime(2025, 3, day, 7, 5, tzinfo=UTC)
        with time_machine.travel(now, tick=False):
            newsletter_tick(now=now)
            newsletter_tick(now=now + timedelta(minutes=5))  # later ticks that morning change nothing

    sent = Delivery.objects.filter(subscriber=reader).order_by("edition__date").values_list("edition__date", flat=True)
    assert [d.day for d in sent] == days_sent
    if skip_stale:
        saturday = Edition.objects.get(date=date(2025, 3, 15), frequency=Frequency.DAILY)
        assert saturday.status == Edition.Status.DRAFT
        assert "would repeat 2025-03-14's list" in caplog.text


@pytest.mark.parametrize(
    ("zone", "utc_hour", "due"),
    [("UTC", 7, True), ("UTC", 10, False), ("Asia/Tokyo", 22, True), ("Not/AZone", 7, True), ("Asia/Tokyo", 7, False)],
)
def test_subscriber_due_uses_the_local_morning(settings, zone: str, utc_hour: int, due: bool) -> None:
    settings.NEWSLETTER_SEND_HOUR = 7
    settings.NEWSLETTER_SEND_CATCHUP_HOURS = 3
    now = datetime(2025, 3, 13, utc_hour, 0, tzinfo=UTC)
    assert subscriber_due(time_zone=zone, now=now, edition_date=date(2025, 3, 13)) is due
