"""SNS signatures on the SES webhooks: only what Amazon SNS signed is believed.

The test plays SNS with its own key and certificate (``webhook_support.SnsSigner``); the certificate is served by a
local stand-in whose origin alone is trusted through ``SNS_TRUSTED_ORIGIN_PATTERN``. Every refusal is a 4xx, changes
nothing, and logs no traceback.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from digest.models import Edition
from subscribers.models import Delivery, Subscriber, Suppression, TrackingEvent
from tests.digest.local_http import Route, local_server
from tests.factories import make_edition
from tests.subscribers.factories import make_subscriber
from tests.subscribers.webhook_support import (
    CERT_PATH,
    SnsSigner,
    basic_auth,
    make_key_and_certificate,
    sns_headers,
    sns_notification,
)

URL = "/anymail/amazon_ses/tracking/"
SES_MESSAGE_ID = "0100018e3a7b9c1d-SNS-TEST"


def bounce(recipient: str = "reader@example.org") -> dict[str, Any]:
    """An SES bounce notification as SES publishes it to SNS (the fields Anymail reads)."""
    return {
        "eventType": "Bounce",
        "mail": {
            "timestamp": "2025-03-14T07:05:00.000Z",
            "source": "papers@example.com",
            "messageId": SES_MESSAGE_ID,
            "destination": [recipient],
        },
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": recipient, "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
            "timestamp": "2025-03-14T07:05:01.000Z",
        },
    }


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


def post(client, message: dict[str, Any], *, url: str = URL, auth: bool = True, body: str | None = None):
    headers = {**sns_headers(message), **(basic_auth() if auth else {})}
    data = json.dumps(message) if body is None else body
    return client.post(url, data=data, content_type="text/plain; charset=UTF-8", **headers)


def unchanged(delivery: Delivery) -> bool:
    delivery.refresh_from_db()
    delivery.subscriber.refresh_from_db()
    return (
        delivery.status == Delivery.Status.SENT
        and delivery.subscriber.status == Subscriber.Status.ACTIVE
        and not Suppression.objects.exists()
        and not TrackingEvent.objects.exists()
    )


def assert_one_warning_no_traceback(caplog: pytest.LogCaptureFixture) -> logging.LogRecord:
    assert [r for r in caplog.records if r.exc_info] == []
    serious = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(serious) == 1, [r.getMessage() for r in serious]
    return serious[0]


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_correctly_signed_bounce_suppresses(client, delivery: Delivery, signer: SnsSigner, version: str) -> None:
    response = post(client, signer.sign(sns_notification(bounce(), subject="Amazon SES Notification"), version=version))
    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.BOUNCED
    assert delivery.subscriber.status == Subscriber.Status.BOUNCED
    assert Suppression.objects.filter(reason="bounced").count() == 1


def test_the_certificate_is_fetched_once_and_cached(client, delivery: Delivery, signer: SnsSigner) -> None:
    for _ in range(3):
        assert post(client, signer.sign(sns_notification(bounce()))).status_code == 200
    assert signer.cert_fetches() == 1


def test_a_wrongly_signed_bounce_is_refused(client, delivery: Delivery, signer: SnsSigner, caplog) -> None:
    other_key, _ = make_key_and_certificate()
    caplog.set_level(logging.INFO)
    response = post(client, signer.sign(sns_notification(bounce()), key=other_key))
    assert response.status_code == 400
    assert unchanged(delivery)
    record = assert_one_warning_no_traceback(caplog)
    assert "SNS signature does not verify" in record.getMessage()


def test_a_message_changed_after_signing_is_refused(client, delivery: Delivery, signer: SnsSigner, caplog) -> None:
    signed = signer.sign(sns_notification(bounce("someone@example.org")))
    signed["Message"] = json.dumps(bounce("reader@example.org"))
    assert post(client, signed).status_code == 400
    assert unchanged(delivery)
    assert_one_warning_no_traceback(caplog)


@pytest.mark.parametrize("strip", [("Signature", "SignatureVersion", "SigningCertURL"), ("Signature",)])
def test_an_unsigned_bounce_is_refused(client, delivery: Delivery, signer: SnsSigner, caplog, strip) -> None:
    signed = signer.sign(sns_notification(bounce()))
    for field in strip:
        signed.pop(field)
    assert post(client, signed).status_code == 400
    assert unchanged(delivery)
    assert "unsigned SNS message" in assert_one_warning_no_traceback(caplog).getMessage()
    assert signer.cert_fetches() == 0


@pytest.mark.parametrize(
    "cert_url",
    [
        "https://sns.us-east-1.amazonaws.com.attacker.example/SimpleNotificationService-x.pem",
        "https://sns.us-east-1.amazonaws.com@attacker.example/SimpleNotificationService-x.pem",
        "https://attacker.example/SimpleNotificationService-x.pem",
    ],
)
def test_a_certificate_on_another_host_is_never_fetched(
    client, delivery: Delivery, signer: SnsSigner, caplog, cert_url: str
) -> None:
    assert post(client, signer.sign(sns_notification(bounce()), cert_url=cert_url)).status_code == 400
    assert unchanged(delivery)
    assert "is not a trusted SNS certificate URL" in assert_one_warning_no_traceback(caplog).getMessage()


def test_a_certificate_served_by_an_untrusted_local_server_is_never_fetched(
    client, delivery: Delivery, signer: SnsSigner, caplog
) -> None:
    # A forger's own key and certificate, served from a host the pattern does not name: it would verify if fetched.
    forger_key, forger_pem = make_key_and_certificate()
    with local_server({CERT_PATH: Route(body=forger_pem)}) as forger:
        message = signer.sign(sns_notification(bounce()), key=forger_key, cert_url=forger.url(CERT_PATH))
        assert post(client, message).status_code == 400
        assert forger.requests == []
    assert unchanged(delivery)
    assert_one_warning_no_traceback(caplog)


def test_a_trusted_host_that_does_not_answer_is_a_503_to_retry(client, delivery: Delivery, signer: SnsSigner) -> None:
    message = signer.sign(sns_notification(bounce()), cert_url=signer.server.url("/SimpleNotificationService-gone.pem"))
    assert post(client, message).status_code == 503
    assert unchanged(delivery)


def test_the_secret_is_still_required_with_a_good_signature(client, delivery: Delivery, signer: SnsSigner) -> None:
    response = post(client, signer.sign(sns_notification(bounce())), auth=False)
    assert response.status_code == 401  # SNS's challenge, after which it sends the credentials
    assert unchanged(delivery)
    assert signer.cert_fetches() == 0  # nothing is fetched for a caller who has not authenticated


def subscription_confirmation(signer: SnsSigner, subscribe_url: str | None = None) -> dict[str, Any]:
    return {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "t0k3n",
        "TopicArn": "arn:aws:sns:us-east-1:111122223333:ses-events",
        "Message": "You have chosen to subscribe to the topic. To confirm, visit the SubscribeURL.",
        "SubscribeURL": subscribe_url or signer.subscribe_url,
        "Timestamp": "2025-03-14T07:00:00.000Z",
    }


def test_a_signed_subscription_confirmation_is_confirmed(client, signer: SnsSigner) -> None:
    assert post(client, signer.sign(subscription_confirmation(signer))).status_code == 200
    assert signer.confirmations() == 1


def test_an_unsigned_subscription_confirmation_is_not_confirmed(client, signer: SnsSigner, caplog) -> None:
    assert post(client, subscription_confirmation(signer)).status_code == 400
    assert signer.confirmations() == 0
    assert_one_warning_no_traceback(caplog)


def test_a_subscribe_url_on_another_host_is_never_fetched(client, signer: SnsSigner, caplog) -> None:
    with local_server({"/confirm": Route(body=b"ok")}) as elsewhere:
        message = signer.sign(subscription_confirmation(signer, subscribe_url=elsewhere.url("/confirm")))
        assert post(client, message).status_code == 400
        assert elsewhere.requests == []
    assert "SubscribeURL" in assert_one_warning_no_traceback(caplog).getMessage()


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[1, 2]",
        '"a string"',
        json.dumps({"Type": "Notification"}),
        "\udcff".encode("utf-8", "surrogatepass"),
    ],
    ids=["not-json", "a-list", "a-string", "no-message-id", "bad-utf8"],
)
def test_a_malformed_body_with_valid_auth_is_a_400(client, signer: SnsSigner, caplog, body) -> None:
    headers = {"HTTP_X_AMZ_SNS_MESSAGE_TYPE": "Notification", "HTTP_X_AMZ_SNS_MESSAGE_ID": "x", **basic_auth()}
    # (charset in lower case: the test client then posts bytes as they are, invalid UTF-8 included)
    response = client.post(URL, data=body, content_type="text/plain; charset=utf-8", **headers)
    assert response.status_code == 400
    assert_one_warning_no_traceback(caplog)


def test_a_signed_tracking_message_posted_to_the_inbound_url_is_a_400(client, delivery: Delivery, signer) -> None:
    response = post(client, signer.sign(sns_notification(bounce())), url="/anymail/amazon_ses/inbound/")
    assert response.status_code == 400
    assert unchanged(delivery)


def test_the_shipped_pattern_trusts_only_sns_hosts(settings) -> None:
    from config import settings as shipped
    from subscribers.webhooks.sns import trusted_url

    settings.SNS_TRUSTED_ORIGIN_PATTERN = shipped.SNS_TRUSTED_ORIGIN_PATTERN
    assert trusted_url("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem")
    assert trusted_url("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem")
    for url in (
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",  # not https
        "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com:8443/x.pem",
        "https://user@sns.us-east-1.amazonaws.com/x.pem",
        "https://s3.amazonaws.com/x.pem",
        "not a url",
    ):
        assert not trusted_url(url), url
