"""Where the brake bites: the tick, a chunk in the middle of a send, `send_edition`, the admin, `/healthz`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from anymail.signals import AnymailTrackingEvent
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.core import mail
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from config.health import record_beat_tick
from config.tasks import heartbeat
from digest.models import Edition, Frequency
from subscribers.brake import brake_enforce, brake_resume, brake_state
from subscribers.delivery.body import clear_body_cache
from subscribers.delivery.chunk import chunk_send
from subscribers.delivery.fanout import Span, deliveries_fan_out
from subscribers.delivery.schedule import newsletter_tick
from subscribers.models import Delivery, SendingBrake, Subscriber
from subscribers.webhooks.tracking import tracking_event_record
from tests.admin.conftest import curator_group
from tests.factories import make_edition, make_seen_paper
from tests.subscribers.brake_support import make_sends, mark
from tests.subscribers.factories import make_subscriber

Status = Delivery.Status
TODAY = date(2025, 3, 14)
NOW = datetime(2025, 3, 14, 7, 30, tzinfo=UTC)
REASON = "complaints 0.50% (1 of 200 deliveries) above the 0.3% limit"


@pytest.fixture(autouse=True)
def morning() -> Iterator[None]:
    """It is 07:30 UTC on the edition's day: the send hour, and what the dashboard and /healthz take as now."""
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture(autouse=True)
def small_window(settings) -> None:
    """Thresholds as shipped; 200 deliveries are enough to judge, so one complaint among them is 0.5%."""
    settings.BRAKE_MIN_DELIVERIES = 200
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.NEWSLETTER_SEND_HOUR = 7
    settings.NEWSLETTER_APPROVAL_REQUIRED = False
    clear_body_cache()


@pytest.fixture
def history(db) -> list[Delivery]:
    """Yesterday's weekly edition, accepted by the ESP for its 200 readers (who are not due a daily one)."""
    yesterday = make_edition(date=TODAY - timedelta(days=1), frequency=Frequency.WEEKLY, status=Edition.Status.SENT)
    return make_sends(yesterday, 200, sent_at=NOW - timedelta(hours=24))


@pytest.fixture
def edition(db) -> Edition:
    papers = [make_seen_paper(listed_date=TODAY, upvotes=10 * i, title=f"Paper {i}") for i in range(2)]
    return make_edition(date=TODAY, papers=papers, status=Edition.Status.APPROVED, subject="Trending Papers: today")


def complain(delivery: Delivery) -> None:
    """A complaint as the tracking webhook's receiver gets it from Anymail (the HTTP path: test_brake_webhook.py)."""
    event = AnymailTrackingEvent(
        event_type="complained",
        message_id=delivery.esp_message_id,
        recipient=delivery.subscriber.email,
        event_id=f"complaint-{delivery.pk}",
    )
    tracking_event_record(event=event, esp_name="amazon_ses")


def sent_to() -> Counter[str]:
    return Counter(message.to[0] for message in mail.outbox)


# --- The tick -------------------------------------------------------------------------------------------------


def test_the_tick_sends_nothing_while_paused_and_holds_what_it_built(history: list[Delivery]) -> None:
    make_seen_paper(listed_date=TODAY, upvotes=50)
    make_subscriber()
    complain(history[0])

    assert newsletter_tick(now=NOW) == []

    built = Edition.objects.get(date=TODAY)
    assert built.status == Edition.Status.HELD and REASON in built.held_reason
    assert not Delivery.objects.filter(edition=built).exists()


def test_the_tick_sends_as_before_under_the_thresholds(history: list[Delivery]) -> None:
    make_seen_paper(listed_date=TODAY, upvotes=50)
    reader = make_subscriber()
    assert [batch.chunks for batch in newsletter_tick(now=NOW)] == [[Span(reader.pk, reader.pk, 1)]]


# --- A send in progress -----------------------------------------------------------------------------------------


def test_a_send_in_progress_stops_at_its_next_chunk_and_goes_on_after_a_resume(
    history: list[Delivery], edition: Edition, settings
) -> None:
    """The brake trips between two chunks: the chunk already sent stays sent, the next claims nothing and its rows
    stay queued; after a curator resumes, the same chunk sends them, once."""
    settings.NEWSLETTER_SEND_CHUNK_SIZE = 2
    readers = [make_subscriber() for _ in range(4)]
    batch = deliveries_fan_out(
        edition=edition, recipients=Subscriber.objects.filter(pk__in=[r.pk for r in readers]), now=NOW
    )
    first, second = batch.chunks

    assert chunk_send(edition_id=edition.pk, first=first.first, last=first.last).sent == 2
    complain(history[0])  # arrives while the edition is sending
    stopped = chunk_send(edition_id=edition.pk, first=second.first, last=second.last)

    assert (stopped.sent, stopped.released) == (0, 0)
    edition.refresh_from_db()
    assert edition.status == Edition.Status.HELD  # the first chunk's 2 sends are in the sample now:
    assert "complaints 0.50% (1 of 202 deliveries) above the 0.3% limit" in edition.held_reason
    assert Counter(Delivery.objects.filter(edition=edition).values_list("status", flat=True)) == {
        Status.SENT: 2,
        Status.QUEUED: 2,
    }

    brake_resume(user=User.objects.create_user("carla"), now=NOW + timedelta(minutes=5))
    edition.refresh_from_db()
    assert edition.status == Edition.Status.SENDING  # it had started: it goes on
    assert chunk_send(edition_id=edition.pk, first=second.first, last=second.last).sent == 2
    assert sent_to() == Counter({r.email: 1 for r in readers})
    edition.refresh_from_db()
    assert edition.status == Edition.Status.SENT


# --- The operator's send_edition -----------------------------------------------------------------------------------


def test_send_edition_refuses_with_the_rate_and_exit_status_1(
    history: list[Delivery], edition: Edition, capsys, monkeypatch
) -> None:
    make_subscriber()
    complain(history[0])
    with pytest.raises(CommandError, match=r"complaints 0\.50% \(1 of 200 deliveries\).*--force"):
        call_command("send_edition", "--date", TODAY.isoformat())
    # As from a shell: argv parsed, the error printed, exit status 1. (A command closes its database connections
    # when it ends; here that would be the test's own, inside its transaction.)
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", "send_edition", "--date", TODAY.isoformat()]).execute()
    assert exited.value.code == 1
    assert "0.50%" in capsys.readouterr().err
    assert mail.outbox == []
    assert not Delivery.objects.filter(edition=edition).exists()


def test_send_edition_dry_run_reports_the_pause_and_changes_nothing(history: list[Delivery], edition: Edition, capsys):
    complain(history[0])
    call_command("send_edition", "--date", TODAY.isoformat(), "--dry-run")
    out = capsys.readouterr().out
    assert "0.50%" in out and "A real run needs --force" in out and "Dry run: nothing sent" in out
    edition.refresh_from_db()
    assert edition.status == Edition.Status.APPROVED  # a dry run trips nothing
    assert not SendingBrake.objects.filter(engaged_at__isnull=False).exists()


def test_send_edition_force_sends_this_edition_and_the_pause_stays(history: list[Delivery], edition: Edition, capsys):
    readers = [make_subscriber() for _ in range(3)]
    other = make_edition(date=TODAY - timedelta(days=2), status=Edition.Status.APPROVED)
    complain(history[0])
    brake_enforce(now=NOW)

    call_command("send_edition", "--date", TODAY.isoformat(), "--force")

    out = capsys.readouterr().out
    assert "anyway (--force)" in out and "Sent 3" in out
    assert sent_to() == Counter({r.email: 1 for r in readers})
    edition.refresh_from_db()
    other.refresh_from_db()
    assert (edition.status, edition.held_reason) == (Edition.Status.SENT, "")
    assert other.status == Edition.Status.HELD  # the pause still holds everything else
    assert brake_state(now=NOW).paused


def test_send_edition_force_enqueued_reaches_the_workers_chunks(
    history: list[Delivery], edition: Edition, django_capture_on_commit_callbacks
) -> None:
    readers = [make_subscriber() for _ in range(3)]
    complain(history[0])
    with django_capture_on_commit_callbacks(execute=True):
        call_command("send_edition", "--date", TODAY.isoformat(), "--force", "--enqueue")
    assert sent_to() == Counter({r.email: 1 for r in readers})  # chunk tasks ran eagerly, despite the brake


# --- The admin ---------------------------------------------------------------------------------------------------


@pytest.fixture
def curator_client(db) -> Client:
    user = User.objects.create_user("carla", "carla@example.org", "pw", is_staff=True)
    user.groups.add(curator_group())
    client = Client()
    client.force_login(user)
    return client


def test_the_edition_page_shows_why_and_offers_resume_instead_of_send_now(
    history: list[Delivery], edition: Edition, curator_client: Client
) -> None:
    complain(history[0])
    brake_enforce(now=NOW)
    page = curator_client.get(reverse("admin:digest_edition_change", args=[edition.pk])).content.decode()
    assert 'id="held-reason"' in page and REASON in page
    assert 'value="resume_sending"' in page and 'value="send_now"' not in page


def test_send_now_in_the_admin_is_refused_while_paused(
    history: list[Delivery], edition: Edition, curator_client: Client
) -> None:
    make_subscriber()
    complain(history[0])
    move = reverse("admin:digest_edition_move", args=[edition.pk, "send_now"])
    page = curator_client.post(move, follow=True).content.decode()
    assert "Resume sending first" in page
    assert not Delivery.objects.filter(edition=edition).exists() and mail.outbox == []


def test_resuming_from_the_edition_page_is_logged_and_sends_on_the_next_tick(
    history: list[Delivery], edition: Edition, curator_client: Client
) -> None:
    reader = make_subscriber()
    complain(history[0])
    assert newsletter_tick(now=NOW) == []

    move = reverse("admin:digest_edition_move", args=[edition.pk, "resume_sending"])
    page = curator_client.post(move, follow=True).content.decode()

    assert "Sending resumed. Given back:" in page
    edition.refresh_from_db()
    assert (edition.status, edition.held_reason) == (Edition.Status.APPROVED, "")
    logged = LogEntry.objects.get(object_id=str(edition.pk), content_type__model="edition")
    assert logged.user.username == "carla" and REASON in logged.change_message
    assert LogEntry.objects.filter(content_type__model="sendingbrake").count() == 1
    assert [batch.chunks for batch in newsletter_tick(now=NOW + timedelta(minutes=5))] == [
        [Span(reader.pk, reader.pk, 1)]
    ]


def test_the_dashboard_shows_the_rates_the_pause_and_resumes(
    history: list[Delivery], edition: Edition, curator_client: Client
) -> None:
    complain(history[0])
    brake_enforce(now=NOW)
    page = curator_client.get(reverse("admin-dashboard")).content.decode()
    assert 'data-paused="yes"' in page and REASON in page
    assert "0.50% (1)" in page and reverse("admin-brake-resume") in page

    page = curator_client.post(reverse("admin-brake-resume"), follow=True).content.decode()

    assert "Sending resumed. Given back: Daily edition 2025-03-14." in page
    assert 'data-paused="no"' in page and "Since resumed" in page
    assert LogEntry.objects.filter(content_type__model="sendingbrake", user__username="carla").exists()
    # Resuming twice (two curators at once): the second is told, nothing is logged twice.
    page = curator_client.post(reverse("admin-brake-resume"), follow=True).content.decode()
    assert "Sending is not paused" in page
    assert LogEntry.objects.filter(content_type__model="sendingbrake").count() == 1


def test_the_dashboard_warns_above_the_warning_rate(db, curator_client: Client, settings) -> None:
    settings.BRAKE_MIN_DELIVERIES = 1000
    yesterday = make_edition(date=TODAY - timedelta(days=1), status=Edition.Status.SENT)
    mark(make_sends(yesterday, 2000)[:3], Status.COMPLAINED)  # 0.15%: warn, not pause
    page = curator_client.get(reverse("admin-dashboard")).content.decode()
    assert 'data-level="warn"' in page and 'data-paused="no"' in page
    assert "Complaints 0.15% (3 of 2,000 deliveries), above the 0.1% warning." in page


def test_resume_needs_the_permission_to_change_editions(history: list[Delivery], db) -> None:
    complain(history[0])
    brake_enforce(now=NOW)
    viewer = User.objects.create_user("vera", "vera@example.org", "pw", is_staff=True)
    client = Client()
    client.force_login(viewer)
    assert client.post(reverse("admin-brake-resume")).status_code == 403
    assert client.get(reverse("admin-brake-resume")).status_code == 405  # a GET never resumes
    assert brake_state(now=NOW).paused


# --- /healthz ----------------------------------------------------------------------------------------------------


def test_healthz_is_degraded_above_the_warning_and_while_paused(history: list[Delivery], client: Client) -> None:
    record_beat_tick(timezone.now())  # the other soft checks fine, so the status is this check's
    heartbeat.run()
    body = client.get("/healthz").json()
    assert body["status"] == "ok", body
    assert body["checks"]["deliverability"]["deliveries"] == 200

    complain(history[0])
    response = client.get("/healthz")
    body = response.json()
    assert (response.status_code, body["status"]) == (200, "degraded")
    check = body["checks"]["deliverability"]
    assert check == {
        "ok": False,
        "level": "pause",
        "paused": False,  # /healthz reads, it never trips the brake
        "deliveries": 200,
        "complaints": 1,
        "hard_bounces": 0,
        "complaint_percent": 0.5,
        "hard_bounce_percent": 0.0,
        "error": check["error"],
    }
    assert REASON in check["error"]
    brake_enforce(now=NOW)
    check = client.get("/healthz").json()["checks"]["deliverability"]
    assert check["paused"] is True and REASON in check["error"]
