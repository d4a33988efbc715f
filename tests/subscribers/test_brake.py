"""The complaint-rate brake on its own: the rolling rates, their levels, tripping, holding and resuming."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from digest import edition_states
from digest.models import Edition
from subscribers.brake import (
    BrakeStateError,
    Level,
    Sample,
    Thresholds,
    brake_enforce,
    brake_resume,
    brake_state,
    judge,
    recent_sends,
)
from subscribers.models import Delivery, SendingBrake
from tests.factories import make_edition
from tests.subscribers.brake_support import make_sends, mark

Status = Delivery.Status
NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DEFAULTS = Thresholds(
    complaint_warn_percent=0.1,
    complaint_pause_percent=0.3,
    bounce_pause_percent=5.0,
    min_deliveries=1000,
    window_deliveries=10_000,
    window_days=30,
)


@pytest.fixture
def small_window(settings) -> None:
    """Thresholds as shipped, with a sample small enough to build quickly: 200 deliveries are judged."""
    settings.BRAKE_MIN_DELIVERIES = 200
    settings.BRAKE_WINDOW_DELIVERIES = 1000


@pytest.fixture
def sent_edition(db) -> Edition:
    return make_edition(date=date(2025, 3, 13), status=Edition.Status.SENT)


def user(name: str = "carla") -> User:
    return User.objects.create_user(name, f"{name}@example.org", "pw", is_staff=True)


# --- The levels -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deliveries", "complaints", "bounces", "level"),
    [
        (2000, 0, 0, Level.OK),
        (2000, 2, 0, Level.OK),  # 0.10%: not above the warning
        (2000, 3, 0, Level.WARN),  # 0.15%
        (2000, 6, 0, Level.WARN),  # 0.30%: not above the pause limit
        (2000, 7, 0, Level.PAUSE),  # 0.35%
        (2000, 0, 100, Level.OK),  # 5.00% hard bounces: not above
        (2000, 0, 101, Level.PAUSE),  # 5.05%
        (999, 50, 200, Level.TOO_FEW),  # 5% complaints, but too few deliveries to judge
        (1000, 4, 0, Level.PAUSE),  # exactly the minimum is judged
        (0, 0, 0, Level.TOO_FEW),
    ],
)
def test_levels_at_the_thresholds(deliveries: int, complaints: int, bounces: int, level: Level) -> None:
    sample = Sample(deliveries=deliveries, complaints=complaints, bounces=bounces)
    assert judge(window=sample, since_resume=sample, thresholds=DEFAULTS)[0] is level


def test_the_pause_reason_names_the_rate_the_count_and_the_limit() -> None:
    sample = Sample(deliveries=2000, complaints=7, bounces=150)
    level, reason = judge(window=sample, since_resume=sample, thresholds=DEFAULTS)
    assert level is Level.PAUSE
    assert "complaints 0.35% (7 of 2,000 deliveries) above the 0.3% limit" in reason
    assert "hard bounces 7.50% (150 of 2,000 deliveries) above the 5% limit" in reason


def test_complaints_acknowledged_by_a_resume_warn_but_do_not_pause() -> None:
    window = Sample(deliveries=3000, complaints=10, bounces=0)  # 0.33%, mostly before the resume
    since_resume = Sample(deliveries=1000, complaints=0, bounces=0)
    level, reason = judge(window=window, since_resume=since_resume, thresholds=DEFAULTS)
    assert level is Level.WARN and "before the last resume" in reason


# --- The rates --------------------------------------------------------------------------------------------------


def test_rates_count_only_the_latest_sends_of_the_window(sent_edition: Edition, settings) -> None:
    settings.BRAKE_WINDOW_DELIVERIES = 300
    settings.BRAKE_MIN_DELIVERIES = 100
    oldest = make_sends(sent_edition, 100, sent_at=NOW - 5 * HOUR)
    mark(oldest[:20], Status.COMPLAINED)  # 20% of the oldest sends: out of the window
    make_sends(sent_edition, 100, sent_at=NOW - 3 * HOUR)
    newer = make_sends(sent_edition, 200, sent_at=NOW - HOUR)
    mark(newer[:1], Status.COMPLAINED)
    mark(newer[1:3], Status.BOUNCED)

    assert brake_state(now=NOW).window == Sample(deliveries=300, complaints=1, bounces=2)


def test_sends_older_than_the_window_days_are_out(sent_edition: Edition, settings) -> None:
    settings.BRAKE_WINDOW_DAYS = 7
    mark(make_sends(sent_edition, 50, sent_at=NOW - timedelta(days=8)), Status.COMPLAINED)
    make_sends(sent_edition, 30, sent_at=NOW - timedelta(days=6))
    assert brake_state(now=NOW).window == Sample(deliveries=30, complaints=0, bounces=0)


@pytest.mark.parametrize("status", [Status.QUEUED, Status.SENDING, Status.FAILED, Status.AMBIGUOUS, Status.SKIPPED])
def test_rows_the_esp_never_accepted_are_not_in_the_sample(sent_edition: Edition, status: str) -> None:
    make_sends(sent_edition, 5, sent_at=NOW - HOUR, status=status)
    make_sends(sent_edition, 3, sent_at=NOW - HOUR)
    assert brake_state(now=NOW).window.deliveries == 3


def test_every_accepted_status_is_in_the_sample(sent_edition: Edition) -> None:
    for status in Delivery.ACCEPTED:
        make_sends(sent_edition, 1, sent_at=NOW - HOUR, status=status)
    assert brake_state(now=NOW).window == Sample(deliveries=len(Delivery.ACCEPTED), complaints=1, bounces=1)


def test_reading_the_state_costs_the_same_queries_whatever_the_deliveries(sent_edition: Edition) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            brake_state(now=NOW)
        return len(captured)

    assert queries() == 2  # never tripped: no row yet, and reading makes none
    assert not SendingBrake.objects.exists()
    SendingBrake.objects.create(pk=SendingBrake.SINGLETON)
    make_sends(sent_edition, 10, sent_at=NOW - HOUR)
    few = queries()
    make_sends(sent_edition, 1000, sent_at=NOW - HOUR)
    assert queries() == few == 2


def test_the_rates_walk_the_recent_sends_index(sent_edition: Edition, postgres) -> None:
    """The window is read backwards along the partial index on sent_at, not by sorting every accepted row."""
    for hours in range(1, 31):
        make_sends(sent_edition, 100, sent_at=NOW - hours * HOUR)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE subscribers_delivery")
    window = dataclasses.replace(DEFAULTS, window_deliveries=100)
    plan = recent_sends(now=NOW, thresholds=window).explain()
    assert "delivery_recent_sends" in plan and "Sort" not in plan, plan


# --- Tripping and holding -----------------------------------------------------------------------------------------


def test_below_the_minimum_sample_nothing_trips(sent_edition: Edition, small_window) -> None:
    mark(make_sends(sent_edition, 199, sent_at=NOW - HOUR)[:20], Status.COMPLAINED)  # 10%, but 199 < 200
    approved = make_edition(date=date(2025, 3, 14), status=Edition.Status.APPROVED)
    state = brake_enforce(now=NOW)
    assert (state.paused, state.level) == (False, Level.TOO_FEW)
    approved.refresh_from_db()
    assert approved.status == Edition.Status.APPROVED


def test_tripping_holds_what_would_go_out_with_the_reason_once(sent_edition: Edition, small_window, caplog) -> None:
    mark(make_sends(sent_edition, 200, sent_at=NOW - HOUR)[:1], Status.COMPLAINED)  # 0.5%
    approved = make_edition(date=date(2025, 3, 14), status=Edition.Status.APPROVED)
    sending = make_edition(date=date(2025, 3, 10), status=Edition.Status.SENDING, send_started_at=NOW - HOUR)
    draft = make_edition(date=date(2025, 3, 15), status=Edition.Status.DRAFT)
    curator_held = make_edition(date=date(2025, 3, 11), status=Edition.Status.HELD)

    with caplog.at_level(logging.WARNING, logger="subscribers.brake"):
        state = brake_enforce(now=NOW)
        assert brake_enforce(now=NOW + HOUR).paused  # engaged until resumed: no second trip

    assert state.paused and state.level is Level.PAUSE
    assert state.reason == (
        "Sending paused by the complaint-rate brake: complaints 0.50% (1 of 200 deliveries) above the 0.3% limit."
    )
    assert SendingBrake.objects.get().engaged_at == NOW
    for edition in (approved, sending):
        edition.refresh_from_db()
        assert (edition.status, edition.held_reason) == (Edition.Status.HELD, state.reason)
    for edition, status in (
        (draft, Edition.Status.DRAFT),
        (curator_held, Edition.Status.HELD),
        (sent_edition, Edition.Status.SENT),
    ):
        edition.refresh_from_db()
        assert (edition.status, edition.held_reason) == (status, "")
    assert len([r for r in caplog.records if "Held:" in r.getMessage()]) == 1


def test_editions_approved_while_engaged_are_held_too(sent_edition: Edition, small_window) -> None:
    mark(make_sends(sent_edition, 200, sent_at=NOW - HOUR)[:1], Status.COMPLAINED)
    brake_enforce(now=NOW)
    later = make_edition(date=date(2025, 3, 15), status=Edition.Status.APPROVED)
    state = brake_enforce(now=NOW + HOUR)
    later.refresh_from_db()
    assert (later.status, later.held_reason) == (Edition.Status.HELD, state.reason)


def test_a_curators_move_on_a_held_edition_clears_the_brakes_reason(sent_edition: Edition, small_window) -> None:
    mark(make_sends(sent_edition, 200, sent_at=NOW - HOUR)[:1], Status.COMPLAINED)
    edition = make_edition(date=date(2025, 3, 14), status=Edition.Status.APPROVED)
    brake_enforce(now=NOW)
    edition_states.edition_reopen(edition=edition)
    assert (edition.status, edition.held_reason) == (Edition.Status.DRAFT, "")


# --- Resuming -----------------------------------------------------------------------------------------------------


def test_resume_gives_the_held_editions_back_and_restarts_the_sample(sent_edition: Edition, small_window) -> None:
    mark(make_sends(sent_edition, 200, sent_at=NOW - HOUR)[:1], Status.COMPLAINED)
    approved = make_edition(date=date(2025, 3, 14), status=Edition.Status.APPROVED)
    sending = make_edition(date=date(2025, 3, 10), status=Edition.Status.SENDING, send_started_at=NOW - HOUR)
    curator_held = make_edition(date=date(2025, 3, 11), status=Edition.Status.HELD)
    reason = brake_enforce(now=NOW).reason
    carla = user()

    resumed = brake_resume(user=carla, now=NOW + HOUR)

    assert resumed.reason == reason
    assert {e.pk for e in resumed.editions} == {approved.pk, sending.pk}
    for edition, status in (
        (approved, Edition.Status.APPROVED),
        (sending, Edition.Status.SENDING),
        (curator_held, Edition.Status.HELD),
    ):
        edition.refresh_from_db()
        assert (edition.status, edition.held_reason) == (status, "")
    row = SendingBrake.objects.get()
    assert (row.engaged_at, row.reason, row.resumed_at, row.resumed_by) == (None, "", NOW + HOUR, carla)

    # The complaint seen before is acknowledged: the brake stays off, the dashboard still warns.
    state = brake_enforce(now=NOW + 2 * HOUR)
    assert not state.paused and state.level is Level.WARN
    # 200 new sends after the resume with two complaints (1%): judged on their own, and it trips again.
    mark(make_sends(sent_edition, 200, sent_at=NOW + 90 * timedelta(minutes=1))[:2], Status.COMPLAINED)
    state = brake_enforce(now=NOW + 2 * HOUR)
    assert state.paused and "2 of 200 deliveries" in state.reason


def test_resuming_a_brake_that_is_not_engaged_is_refused(db) -> None:
    with pytest.raises(BrakeStateError, match="not paused"):
        brake_resume(user=user(), now=NOW)
    assert not SendingBrake.objects.filter(resumed_at__isnull=False).exists()
