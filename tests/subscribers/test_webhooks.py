"""Anymail tracking webhooks: SES-over-SNS payloads, signed as SNS signs them, posted to the URL with and without
the right secret. (The signature checks themselves: test_webhooks_sns.py.)"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from anymail.signals import AnymailTrackingEvent, tracking

from digest.models import Edition
from subscribers.models import Delivery, Subscriber, Suppression, TrackingEvent
from subscribers.services import email_hash
from tests.factories import make_edition
from tests.subscribers.factories import make_subscriber
from tests.subscribers.webhook_support import SECRET, SnsSigner

PAYLOADS = Path(__file__).parent / "payloads"
SES_MESSAGE_ID = "0100018e3a7b9c1d-SES-MESSAGE-ID"
URL = "/anymail/amazon_ses/tracking/"


@pytest.fixture
def signer(sns_signer: SnsSigner, mount_esp) -> SnsSigner:
    mount_esp("amazon_ses")
    return sns_signer


@pytest.fixture
def delivery(db, signer: SnsSigner) -> Delivery:
    edition = make_edition(date=datetime(2025, 3, 14, tzinfo=UTC).date(), status=Edition.Status.SENT)
    subscriber = make_subscriber(email="reader@example.org")
    return Delivery.objects.create(
        edition=edition, subscriber=subscriber, status=Delivery.Status.SENT, esp_message_id=SES_MESSAGE_ID
    )


def post(client, signer: SnsSigner, name: str, *, secret: str | None = SECRET):
    message = signer.sign(json.loads((PAYLOADS / name).read_text()))
    body = json.dumps(message)
    headers = {
        "HTTP_X_AMZ_SNS_MESSAGE_TYPE": "Notification",
        "HTTP_X_AMZ_SNS_MESSAGE_ID": message["MessageId"],
    }
    if secret is not None:
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(secret.encode()).decode()
    return client.post(URL, data=body, content_type="text/plain; charset=UTF-8", **headers)


def state(delivery: Delivery) -> tuple[str, str]:
    delivery.refresh_from_db()
    delivery.subscriber.refresh_from_db()
    return delivery.status, delivery.subscriber.status


def test_a_hard_bounce_marks_the_delivery_and_suppresses_the_address(
    client, delivery: Delivery, signer: SnsSigner
) -> None:
    assert post(client, signer, "ses_bounce_permanent.json").status_code == 200
    assert state(delivery) == (Delivery.Status.BOUNCED, Subscriber.Status.BOUNCED)
    assert Suppression.objects.filter(email_hash=email_hash("reader@example.org"), reason="bounced").exists()


def test_a_soft_bounce_changes_nothing(client, delivery: Delivery, signer: SnsSigner) -> None:
    assert post(client, signer, "ses_bounce_transient.json").status_code == 200
    assert state(delivery) == (Delivery.Status.SENT, Subscriber.Status.ACTIVE)


def test_a_complaint_suppresses_the_address(client, delivery: Delivery, signer: SnsSigner) -> None:
    assert post(client, signer, "ses_complaint.json").status_code == 200
    assert state(delivery) == (Delivery.Status.COMPLAINED, Subscriber.Status.COMPLAINED)
    assert Suppression.objects.filter(reason="complained").count() == 1


@pytest.mark.parametrize("secret", ["anymail:wrong", None])
def test_a_wrong_or_missing_secret_is_refused_and_changes_nothing(
    client, delivery: Delivery, signer: SnsSigner, secret
) -> None:
    response = post(client, signer, "ses_bounce_permanent.json", secret=secret)
    assert response.status_code in (400, 401)
    assert state(delivery) == (Delivery.Status.SENT, Subscriber.Status.ACTIVE)
    assert not TrackingEvent.objects.exists() and not Suppression.objects.exists()


def test_a_replayed_event_changes_nothing(client, delivery: Delivery, signer: SnsSigner) -> None:
    assert post(client, signer, "ses_delivery.json").status_code == 200
    assert state(delivery)[0] == Delivery.Status.DELIVERED
    # The subscriber came back and the row moved on; a replay of the old event must not touch either.
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.SENT)
    assert post(client, signer, "ses_delivery.json").status_code == 200
    assert state(delivery)[0] == Delivery.Status.SENT
    assert TrackingEvent.objects.count() == 1


def test_events_only_move_a_delivery_forward(delivery: Delivery) -> None:
    def send(event_type: str, event_id: str) -> None:
        event = AnymailTrackingEvent(
            event_type=event_type, event_id=event_id, message_id=SES_MESSAGE_ID, recipient="other@example.org"
        )
        tracking.send(sender=object, event=event, esp_name="Test")

    send("clicked", "1")
    send("opened", "2")  # arrives late: a click implies the open
    send("delivered", "3")
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.CLICKED


def test_an_esp_unsubscribe_event_unsubscribes(delivery: Delivery) -> None:
    event = AnymailTrackingEvent(
        event_type="unsubscribed", event_id="u1", message_id=SES_MESSAGE_ID, recipient="Reader@Example.org"
    )
    tracking.send(sender=object, event=event, esp_name="Test")
    assert state(delivery)[1] == Subscriber.Status.UNSUBSCRIBED


def test_without_a_configured_secret_the_webhook_refuses_everyone(
    client, delivery: Delivery, signer: SnsSigner, settings
) -> None:
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": "unset:random-nobody-knows"}
    assert post(client, signer, "ses_bounce_permanent.json", secret="anymail:").status_code in (400, 401)
    assert state(delivery) == (Delivery.Status.SENT, Subscriber.Status.ACTIVE)
