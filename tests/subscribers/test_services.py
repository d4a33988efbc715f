from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from subscribers import services
from subscribers.models import Subscriber, Suppression
from tests.subscribers.factories import make_subscriber

pytestmark = pytest.mark.django_db


def _subscribe(email: str = "reader@example.org", **overrides):
    fields = {
        "email": email,
        "keywords": [],
        "frequency": "daily",
        "consent_source": "http://testserver/",
        "consent_text": "I agree.",
        "ip": "203.0.113.9",
    }
    fields.update(overrides)
    return services.subscriber_subscribe(**fields)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("  Reader@Example.ORG ", "reader@example.org"),
        ("first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"),
        ("x@bücher.example", "x@xn--bcher-kva.example"),
    ],
)
def test_normalize_email(raw, normalized):
    assert services.normalize_email(raw) == normalized


@pytest.mark.parametrize(
    "raw",
    [
        "a@b.c\nBcc: x@y.z",
        "a@b.c\r\nBcc: x@y.z",
        "a@b.c,x@y.z",
        "a b@example.org",
        '"a b"@example.org',
        "a@b@example.org",
        "no-at-sign",
        "a@localhost",
        "a\x00@example.org",
        "x" * 65 + "@example.org",
        "a@" + "d" * 250 + ".org",
        "",
        "   ",
    ],
)
def test_normalize_email_refuses(raw):
    with pytest.raises(ValidationError):
        services.normalize_email(raw)


def test_parse_keywords_trims_dedupes_and_bounds():
    assert services.parse_keywords(" LLM ,llm;  diffusion\nrobot  arms ,,") == ["LLM", "diffusion", "robot arms"]
    with pytest.raises(ValidationError):
        services.parse_keywords("x" * 51)
    with pytest.raises(ValidationError):
        services.parse_keywords(",".join(f"k{i}" for i in range(21)))
    with pytest.raises(ValidationError):
        services.parse_keywords("a" * 601)
    with pytest.raises(ValidationError):
        services.parse_keywords("bad\x07bell")


def test_new_signup_is_pending_with_consent_record_and_one_confirmation(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        subscriber = _subscribe(keywords=["LLM"], frequency="weekly")
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.PENDING
    assert (subscriber.keywords, subscriber.frequency) == (["LLM"], "weekly")
    assert subscriber.consent_at and subscriber.consent_text == "I agree."
    assert subscriber.consent_source == "http://testserver/"
    assert subscriber.consent_ip_hash and "203.0.113.9" not in subscriber.consent_ip_hash
    assert len(subscriber.consent_ip_hash) == 64
    assert [m.subject for m in mail.outbox] == ["Confirm your subscription to Trending Papers"]
    assert mail.outbox[0].to == ["reader@example.org"]
    # A confirmation is not subscribed mail: it carries no List-Unsubscribe.
    assert "List-Unsubscribe" not in mail.outbox[0].extra_headers


def test_repeat_signups_send_at_most_one_confirmation_per_hour(django_capture_on_commit_callbacks):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(3):
            with django_capture_on_commit_callbacks(execute=True):
                _subscribe(email="Reader@example.org")
    assert Subscriber.objects.count() == 1
    assert len(mail.outbox) == 1
    with (
        time_machine.travel(start + timedelta(minutes=61), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        _subscribe()
    assert len(mail.outbox) == 2


def test_active_subscriber_is_not_downgraded_or_changed(django_capture_on_commit_callbacks):
    active = make_subscriber(email="reader@example.org", keywords=["mine"], frequency="daily")
    with django_capture_on_commit_callbacks(execute=True):
        _subscribe(keywords=["attacker"], frequency="weekly")
    active.refresh_from_db()
    assert (active.status, active.keywords, active.frequency) == ("active", ["mine"], "daily")
    assert [m.subject for m in mail.outbox] == ["You are already subscribed to Trending Papers"]
    assert "List-Unsubscribe" in mail.outbox[0].extra_headers


def test_unsubscribed_subscriber_must_confirm_again(django_capture_on_commit_callbacks):
    gone = make_subscriber(email="reader@example.org", status=Subscriber.Status.UNSUBSCRIBED)
    with django_capture_on_commit_callbacks(execute=True):
        _subscribe()
    gone.refresh_from_db()
    assert gone.status == Subscriber.Status.PENDING
    assert [m.subject for m in mail.outbox] == ["Confirm your subscription to Trending Papers"]


@pytest.mark.parametrize("reason", ["bounced", "complained", "invalid", "manual"])
def test_suppressed_address_gets_nothing(reason, django_capture_on_commit_callbacks):
    services.subscriber_suppress(email="reader@example.org", reason=reason)
    with django_capture_on_commit_callbacks(execute=True):
        _subscribe()
    assert mail.outbox == []


def test_confirm_is_once_and_sends_welcome_with_unsubscribe_headers(django_capture_on_commit_callbacks):
    subscriber = make_subscriber(status=Subscriber.Status.PENDING, confirmed_at=None, keywords=["LLM"])
    with django_capture_on_commit_callbacks(execute=True):
        assert services.subscriber_confirm(subscriber=subscriber) is True
        assert services.subscriber_confirm(subscriber=subscriber) is False
    assert subscriber.status == Subscriber.Status.ACTIVE and subscriber.confirmed_at
    assert len(mail.outbox) == 1
    welcome = mail.outbox[0]
    assert welcome.subject == "Welcome to Trending Papers"
    assert welcome.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/unsubscribe/" in welcome.extra_headers["List-Unsubscribe"]
    assert "/unsubscribe/" in welcome.body and "/unsubscribe/" in welcome.alternatives[0][0]


def test_unsubscribe_is_once_and_records_how():
    subscriber = make_subscriber()
    assert services.subscriber_unsubscribe(subscriber=subscriber, via="one-click") is True
    assert services.subscriber_unsubscribe(subscriber=subscriber, via="page") is False
    assert (subscriber.status, subscriber.unsubscribed_via) == ("unsubscribed", "one-click")


def test_suppress_moves_status_and_keeps_only_a_hash():
    subscriber = make_subscriber(email="reader@example.org")
    services.subscriber_suppress(email=" READER@example.org", reason="complained")
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.COMPLAINED and subscriber.complained_at
    suppression = Suppression.objects.get()
    assert suppression.email_hash == services.email_hash("reader@example.org")
    assert "reader" not in suppression.email_hash
    services.subscriber_suppress(email="reader@example.org", reason="bounced")  # idempotent
    assert Suppression.objects.count() == 1
    with pytest.raises(ValueError):
        services.subscriber_suppress(email="x@example.org", reason="whim")


def test_export_holds_everything_about_the_person():
    subscriber = make_subscriber(keywords=["LLM"], consent_text="I agree.", time_zone="Europe/Paris")
    data = services.subscriber_export(subscriber=subscriber)
    assert data["email"] == subscriber.email
    assert data["preferences"] == {"frequency": "daily", "keywords": ["LLM"], "time_zone": "Europe/Paris"}
    assert data["consent"]["text"] == "I agree."
    assert data["deliveries"] == []


def test_delete_erases_and_keeps_the_suppression_hash_then_allows_a_fresh_opt_in(django_capture_on_commit_callbacks):
    subscriber = make_subscriber(email="reader@example.org")
    services.subscriber_delete(subscriber=subscriber)
    assert not Subscriber.objects.exists()
    assert list(Suppression.objects.values_list("reason", flat=True)) == ["deleted"]
    with django_capture_on_commit_callbacks(execute=True):
        again = _subscribe()
    assert len(mail.outbox) == 1  # "deleted" does not block coming back through double opt-in
    with django_capture_on_commit_callbacks(execute=True):
        services.subscriber_confirm(subscriber=again)
    assert not Suppression.objects.exists()


def test_preferences_validate_time_zone_and_frequency():
    subscriber = make_subscriber()
    services.subscriber_update_preferences(
        subscriber=subscriber, keywords=["a"], frequency="weekly", time_zone="America/Sao_Paulo"
    )
    subscriber.refresh_from_db()
    assert (subscriber.frequency, subscriber.time_zone) == ("weekly", "America/Sao_Paulo")
    for bad in ({"time_zone": "Mars/Olympus"}, {"frequency": "hourly"}):
        fields = {"keywords": [], "frequency": "daily", "time_zone": "UTC", **bad}
        with pytest.raises(ValidationError):
            services.subscriber_update_preferences(subscriber=subscriber, **fields)
