"""The brake end to end: complaints arrive as Amazon SES notifications through SNS, signed, at the real tracking URL;
the next tick sends nothing and the edition says why; a curator resumes in the admin and the next tick sends it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse

from digest.models import Edition, Frequency
from subscribers.delivery.body import clear_body_cache
from subscribers.models import Delivery, Subscriber
from subscribers.tasks.sending import newsletter_tick
from tests.admin.conftest import curator_group
from tests.factories import make_edition, make_seen_paper
from tests.subscribers.brake_support import make_sends
from tests.subscribers.webhook_support import SnsSigner, basic_auth, sns_headers, sns_notification

TODAY = date(2025, 3, 14)
YESTERDAY_SENT = datetime(2025, 3, 13, 7, 5, tzinfo=UTC)
TICK = datetime(2025, 3, 14, 7, 30, tzinfo=UTC)
URL = "/anymail/amazon_ses/tracking/"
REASON = "Sending paused by the complaint-rate brake: complaints 0.35% (7 of 2,000 deliveries) above the 0.3% limit."


@pytest.fixture
def signer(sns_signer: SnsSigner, mount_esp) -> SnsSigner:
    mount_esp("amazon_ses")
    return sns_signer


@pytest.fixture(autouse=True)
def shipped_thresholds(settings) -> None:
    """The thresholds, window and minimum sample as shipped: the defaults in config/variables/newsletter.py."""
    assert (settings.BRAKE_COMPLAINT_PAUSE_PERCENT, settings.BRAKE_MIN_DELIVERIES) == (0.3, 1000)
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.NEWSLETTER_SEND_HOUR = 7
    settings.NEWSLETTER_APPROVAL_REQUIRED = False
    clear_body_cache()


@pytest.fixture
def curator_client(db) -> Iterator[Client]:
    user = User.objects.create_user("carla", "carla@example.org", "pw", is_staff=True)
    user.groups.add(curator_group())
    client = Client()
    client.force_login(user)
    yield client


def complaint(delivery: Delivery) -> dict[str, Any]:
    """An SES complaint event about one delivery, as SES publishes it to its SNS topic."""
    email = delivery.subscriber.email
    return {
        "eventType": "Complaint",
        "mail": {
            "timestamp": "2025-03-13T07:05:00.000Z",
            "source": "papers@example.com",
            "messageId": delivery.esp_message_id,
            "destination": [email],
        },
        "complaint": {
            "complainedRecipients": [{"emailAddress": email}],
            "complaintFeedbackType": "abuse",
            "timestamp": "2025-03-13T19:40:00.000Z",
            "feedbackId": f"feedback-{delivery.pk}",
        },
    }


def post_signed(client: Client, signer: SnsSigner, ses_event: dict[str, Any]) -> int:
    message = signer.sign(sns_notification(ses_event))
    response = client.post(
        URL, data=json.dumps(message), content_type="text/plain; charset=UTF-8", **sns_headers(message), **basic_auth()
    )
    return response.status_code


def test_seven_complaints_in_2000_deliveries_pause_the_tick_until_a_curator_resumes(
    client: Client, signer: SnsSigner, curator_client: Client, django_capture_on_commit_callbacks
) -> None:
    # Yesterday's edition reached 2,000 readers; today's papers are in.
    yesterday = make_edition(date=TODAY - timedelta(days=1), status=Edition.Status.SENT)
    deliveries = make_sends(yesterday, 2000, sent_at=YESTERDAY_SENT)
    make_seen_paper(listed_date=TODAY, upvotes=40, title="A paper readers did want")

    # Seven readers report it as spam: 0.35% of 2,000, above Gmail's 0.3%.
    complainers = deliveries[::300][:7]
    assert [post_signed(client, signer, complaint(d)) for d in complainers] == [200] * 7
    assert Delivery.objects.filter(status=Delivery.Status.COMPLAINED).count() == 7

    # The next tick builds today's edition and sends nothing: the edition is held, and says why.
    with time_machine.travel(TICK, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert newsletter_tick() == 0
    today = Edition.objects.get(date=TODAY, frequency=Frequency.DAILY)
    assert (today.status, today.held_reason) == (Edition.Status.HELD, REASON)
    assert not Delivery.objects.filter(edition=today).exists() and mail.outbox == []
    with time_machine.travel(TICK + timedelta(minutes=1), tick=True):
        page = curator_client.get(reverse("admin:digest_edition_change", args=[today.pk])).content.decode()
        assert REASON in page and "Held" in page
        dashboard = curator_client.get(reverse("admin-dashboard")).content.decode()
        assert REASON in dashboard and "0.35% (7)" in dashboard

        # A curator resumes in the admin: written to the admin log, the edition given back.
        curator_client.post(reverse("admin-brake-resume"))
    logged = LogEntry.objects.get(content_type__model="edition", object_id=str(today.pk))
    assert logged.user.username == "carla" and "Resumed sending" in logged.change_message
    today.refresh_from_db()
    assert (today.status, today.held_reason) == (Edition.Status.APPROVED, "")

    # The next tick sends it, once, to everyone still on the list: not to the seven who complained.
    with time_machine.travel(TICK + timedelta(minutes=5), tick=False), django_capture_on_commit_callbacks(execute=True):
        assert newsletter_tick() == 4  # 1,993 readers in chunks of 500
    recipients = [message.to[0] for message in mail.outbox]
    assert len(recipients) == len(set(recipients)) == 1993
    complained = set(Subscriber.objects.filter(status=Subscriber.Status.COMPLAINED).values_list("email", flat=True))
    assert complained == {d.subscriber.email for d in complainers} and not complained & set(recipients)
    today.refresh_from_db()
    assert (today.status, today.recipient_count) == (Edition.Status.SENT, 1993)
