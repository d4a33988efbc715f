"""The schedule: each beat tick builds today's editions when due and fans the newest out to whoever's morning it is."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from datetime import date as Date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db.models import QuerySet

from digest.edition_states import SENDABLE, edition_auto_approve
from digest.models import Edition, Frequency
from digest.sendable import edition_sendability
from digest.trending import EditionFrozenError, edition_build
from subscribers.brake import brake_enforce
from subscribers.delivery.fanout import Batch, deliveries_fan_out
from subscribers.delivery.queries import active_subscribers
from subscribers.models import Subscriber

logger = logging.getLogger(__name__)

# How far back the tick looks for the newest edition: yesterday's daily is what subscribers east of UTC get at
# their morning, last week's weekly serves the whole week; anything older is never sent by the schedule.
LOOKBACK_DAYS: dict[str, int] = {Frequency.DAILY: 1, Frequency.WEEKLY: 6}


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def subscriber_due(*, time_zone: str, now: datetime, edition_date: Date) -> bool:
    """Is it the subscriber's morning (send hour, plus catch-up hours) on or after the edition's day, locally?"""
    local = now.astimezone(_zone(time_zone))
    start = settings.NEWSLETTER_SEND_HOUR
    return local.date() >= edition_date and start <= local.hour < start + settings.NEWSLETTER_SEND_CATCHUP_HOURS


def edition_build_if_due(*, frequency: str, now: datetime) -> Edition | None:
    """Build today's (UTC) edition at the send hour if it does not exist yet; approve it when no approval is needed."""
    today = now.astimezone(UTC).date()
    if now.astimezone(UTC).hour < settings.NEWSLETTER_SEND_HOUR:
        return None
    if frequency == Frequency.WEEKLY and today.weekday() != settings.NEWSLETTER_WEEKLY_WEEKDAY:
        return None
    edition = Edition.objects.filter(date=today, frequency=frequency).first()
    built = edition is None
    if edition is None:
        try:
            edition = edition_build(date=today, frequency=frequency)
        except EditionFrozenError as exc:  # a concurrent tick built and approved it first
            edition = exc.edition
        logger.info("built %s", edition)
    if not settings.NEWSLETTER_APPROVAL_REQUIRED and edition.status == Edition.Status.DRAFT:
        # An empty or stale edition stays a draft (out of the archive too); a curator may still look at it.
        verdict = edition_sendability(edition=edition)
        if verdict.ok:
            edition = edition_auto_approve(edition=edition, now=now)
        elif built:
            logger.info("not approving %s: %s", edition, verdict.reason)
    return edition


def newest_sendable_edition(*, frequency: str, now: datetime) -> Edition | None:
    today = now.astimezone(UTC).date()
    edition = (
        Edition.objects.filter(
            frequency=frequency,
            status__in=SENDABLE,
            date__lte=today,
            date__gte=today - timedelta(days=LOOKBACK_DAYS[frequency]),
        )
        .order_by("-date")
        .first()
    )
    if edition is not None:
        verdict = edition_sendability(edition=edition)
        if not verdict.ok:
            logger.warning("skipping %s: %s", edition, verdict.reason)
            return None
    return edition


def due_subscribers(*, edition: Edition, now: datetime) -> QuerySet[Subscriber] | None:
    """Active subscribers of the edition's frequency whose morning it is (the fan-out leaves out those who have a
    delivery of it already); None when no time zone is due."""
    # The time zones of everyone on the list first (a small distinct set): most ticks find no zone due and stop.
    zones = set(
        active_subscribers(frequency=edition.frequency).order_by().values_list("time_zone", flat=True).distinct()
    )
    due_zones = [zone for zone in zones if subscriber_due(time_zone=zone, now=now, edition_date=edition.date)]
    if not due_zones:
        return None
    return active_subscribers(frequency=edition.frequency).filter(time_zone__in=due_zones)


def newsletter_tick(*, now: datetime) -> list[Batch]:
    """One beat tick: build today's editions when due, and fan out the newest to everyone whose morning it is."""
    batches: list[Batch] = []
    for frequency in (Frequency.DAILY, Frequency.WEEKLY):
        edition_build_if_due(frequency=frequency, now=now)
    # The complaint-rate brake: while it is engaged the editions just built are held with the reason, no one is sent.
    if brake_enforce(now=now).paused:
        logger.warning("sending is paused by the complaint-rate brake: the tick sends nothing")
        return batches
    for frequency in (Frequency.DAILY, Frequency.WEEKLY):
        edition = newest_sendable_edition(frequency=frequency, now=now)
        if edition is None:
            continue
        due = due_subscribers(edition=edition, now=now)
        if due is None:
            continue
        batch = deliveries_fan_out(edition=edition, recipients=due, now=now)
        if batch.chunks:
            batches.append(batch)
            logger.info("fanned out %s to %d subscribers", edition, batch.size)
    return batches
