from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from subscribers import links
from subscribers.models import Subscriber, Suppression
from subscribers.tokens import Purpose, make_token
from tests.subscribers.factories import make_subscriber

pytestmark = pytest.mark.django_db

_CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')


def _post_signup(client: Client, email: str, **extra: str):
    data = {"email": email, "keywords": "", "frequency": "daily", "website": "", **extra}
    return client.post("/subscribe/", data, REMOTE_ADDR=extra.pop("ip", "198.51.100.7"))


def _path(url: str) -> str:
    return url.removeprefix("http://testserver")


def _state(subscriber: Subscriber) -> tuple:
    subscriber.refresh_from_db()
    return (subscriber.status, subscriber.confirmed_at, subscriber.unsubscribed_at, subscriber.keywords)


def test_landing_has_the_form_and_archive_link(client):
    response = client.get("/")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'action="/subscribe/"' in body and 'name="csrfmiddlewaretoken"' in body
    assert 'href="/editions/"' in body
    assert 'name="viewport"' in body


def test_no_enumeration_identical_bytes_for_new_pending_active_unsubscribed(client, django_capture_on_commit_callbacks):
    make_subscriber(email="pending@example.org", status=Subscriber.Status.PENDING)
    make_subscriber(email="active@example.org", status=Subscriber.Status.ACTIVE)
    make_subscriber(email="gone@example.org", status=Subscriber.Status.UNSUBSCRIBED)
    answers = []
    # Frozen clock: the Expires header (never_cache) is the time of the answer, the same for every state.
    with time_machine.travel(timezone.now(), tick=False):
        for email in ("new@example.org", "pending@example.org", "active@example.org", "gone@example.org"):
            with django_capture_on_commit_callbacks(execute=True):
                response = _post_signup(client, email)
            headers = {k: v for k, v in response.items() if k.lower() not in ("set-cookie",)}
            answers.append((response.status_code, headers, _CSRF.sub(b"CSRF", response.content)))
    assert all(answer == answers[0] for answer in answers), "responses differ by address state"
    assert answers[0][0] == 200
    assert b"Check your inbox" in answers[0][2]
    assert Subscriber.objects.get(email="active@example.org").status == "active"
    assert Subscriber.objects.get(email="gone@example.org").status == "pending"


def test_invalid_input_gets_a_clear_error_and_stores_nothing(client):
    for email in ("a@b.c\nBcc: x@y.z", "not-an-address", "x" * 300 + "@example.org"):
        response = _post_signup(client, email)
        assert response.status_code == 400
        assert b"errors" in response.content
    response = _post_signup(client, "ok@example.org", keywords="k" * 700)
    assert response.status_code == 400
    response = _post_signup(client, "ok@example.org", frequency="hourly")
    assert response.status_code == 400
    assert not Subscriber.objects.exists()
    assert mail.outbox == []


def test_a_megabyte_of_bad_input_is_echoed_only_as_a_short_prefix(client):
    """The form comes back with each field cut to its own maximum length, the errors quote none of it."""
    # 1.2 MB in all, under Django's 2.5 MB cap on a request body (over it the answer is a bare 400 page).
    response = _post_signup(client, "a" * 1_000_000, keywords="k" * 100_000, frequency="f" * 100_000)
    body = response.content.decode()
    assert response.status_code == 400
    assert len(response.content) < 20_000  # the landing page itself is a few kB
    assert f'value="{"a" * 254}"' in body and "a" * 255 not in body
    assert "k" * 600 in body and "k" * 601 not in body
    assert "f" * 40 not in body
    assert "at most 254 characters (it has 1000000)" in body
    assert not Subscriber.objects.exists()


def test_preferences_never_echo_an_invalid_choice(client):
    url = _path(links.preferences_url(make_subscriber()))
    response = client.post(url, {"keywords": "x", "frequency": "z" * 100_000, "time_zone": "y" * 100_000})
    body = response.content.decode()
    assert response.status_code == 400
    assert "z" * 40 not in body and "y" * 40 not in body
    assert body.count("Choose one of the options shown.") == 2


def test_header_injection_is_refused_and_nothing_is_sent(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post_signup(client, "a@b.c\nBcc: x@y.z")
    assert response.status_code == 400
    assert b"Bcc: x@y.z" not in response.content.replace(b"&#x27;", b"'").split(b"value=")[0]
    assert mail.outbox == [] and not Subscriber.objects.exists()


def test_xss_in_keywords_is_escaped_on_every_page_and_email(client, django_capture_on_commit_callbacks):
    payload = '<script>alert(1)</script>; "><img src=x onerror=alert(2)>'
    with django_capture_on_commit_callbacks(execute=True):
        response = _post_signup(client, "xss@example.org", keywords=payload)
    assert response.status_code == 200
    subscriber = Subscriber.objects.get()
    assert subscriber.keywords == ["<script>alert(1)</script>", '"><img src=x onerror=alert(2)>']  # as typed
    confirm = _path(re.search(r"http://testserver/confirm/\S+/", mail.outbox[0].body).group(0))
    with django_capture_on_commit_callbacks(execute=True):
        client.get(confirm)
    welcome_html = mail.outbox[1].alternatives[0][0]
    page = client.get(_path(links.preferences_url(subscriber))).content.decode()
    for html in (welcome_html, page):
        assert "<script>alert(1)" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # Reflected input on a failed sign-up is escaped too.
    response = _post_signup(client, '"><script>alert(3)</script>@example.org')
    assert b"<script>alert(3)" not in response.content


def test_honeypot_answers_like_success_but_does_nothing(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        bot = _post_signup(client, "bot@example.org", website="http://spam.example")
    with django_capture_on_commit_callbacks(execute=True):
        human = _post_signup(client, "human@example.org")
    assert bot.status_code == human.status_code == 200
    assert _CSRF.sub(b"", bot.content) == _CSRF.sub(b"", human.content)
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["human@example.org"]
    assert [m.to for m in mail.outbox] == [["human@example.org"]]


def test_rate_limit_per_ip_hit_and_recovered(client, settings):
    settings.SUBSCRIBE_RATE_PER_IP = "3/h"
    start = timezone.now().replace(minute=0, second=5)
    with time_machine.travel(start, tick=False):
        codes = [_post_signup(client, f"r{i}@example.org").status_code for i in range(4)]
        other_ip = _post_signup(client, "other@example.org", ip="192.0.2.1").status_code
    assert codes == [200, 200, 200, 429]
    assert other_ip == 200
    assert Subscriber.objects.count() == 4  # three from the first IP, one from the other
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        assert _post_signup(client, "later@example.org").status_code == 200


def test_rate_limit_per_address_hit_and_recovered(client, settings):
    settings.SUBSCRIBE_RATE_PER_ADDRESS = "2/h"
    start = timezone.now().replace(minute=0, second=5)
    with time_machine.travel(start, tick=False):
        codes = [_post_signup(client, "Target@example.org", ip=f"203.0.113.{i}").status_code for i in range(1, 4)]
        limited = _post_signup(client, "target@example.org", ip="203.0.113.50")
    assert codes == [200, 200, 429]
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    with time_machine.travel(start + timedelta(hours=1, minutes=1), tick=False):
        assert _post_signup(client, "target@example.org", ip="203.0.113.60").status_code == 200


def test_forwarded_for_is_ignored_without_trusted_proxies(client, settings):
    settings.SUBSCRIBE_RATE_PER_IP = "1/h"
    assert _post_signup(client, "a@example.org").status_code == 200
    spoofed = client.post(
        "/subscribe/",
        {"email": "b@example.org", "frequency": "daily"},
        REMOTE_ADDR="198.51.100.7",
        HTTP_X_FORWARDED_FOR="10.9.9.9",
    )
    assert spoofed.status_code == 429


def test_csrf_is_enforced_on_the_form():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/subscribe/", {"email": "a@example.org", "frequency": "daily"})
    assert response.status_code == 403
    assert not Subscriber.objects.exists()


def test_confirm_link_confirms_once_then_is_harmless(client, django_capture_on_commit_callbacks):
    subscriber = make_subscriber(status=Subscriber.Status.PENDING, confirmed_at=None)
    url = _path(links.confirm_url(subscriber))
    with django_capture_on_commit_callbacks(execute=True):
        first = client.get(url)
        second = client.get(url)
    assert first.status_code == second.status_code == 200
    assert b"You are subscribed" in first.content
    assert Subscriber.objects.get().status == "active"
    assert [m.subject for m in mail.outbox] == ["Welcome to Trending Papers"]
    assert "no-store" in first["Cache-Control"]


@pytest.mark.parametrize("kind", ["forged", "tampered", "expired", "other-purpose", "rotated"])
def test_bad_confirm_tokens_change_nothing_and_offer_a_new_link(kind, client):
    subscriber = make_subscriber(status=Subscriber.Status.PENDING, confirmed_at=None)
    before = _state(subscriber)
    token = make_token(subscriber_id=subscriber.pk, token_key=subscriber.token_key, purpose=Purpose.CONFIRM)
    if kind == "forged":
        token = f"{subscriber.pk}.{subscriber.token_key}:1tAAAA:forgedsignature"
    elif kind == "tampered":
        token = token[:-2] + ("xx" if not token.endswith("xx") else "yy")
    elif kind == "expired":
        with time_machine.travel(timezone.now() - timedelta(days=7, minutes=1)):
            token = make_token(subscriber_id=subscriber.pk, token_key=subscriber.token_key, purpose=Purpose.CONFIRM)
    elif kind == "other-purpose":
        token = make_token(subscriber_id=subscriber.pk, token_key=subscriber.token_key, purpose=Purpose.UNSUBSCRIBE)
    elif kind == "rotated":
        Subscriber.objects.filter(pk=subscriber.pk).update(token_key="rotated-key")
    response = client.get(f"/confirm/{token}/")
    assert response.status_code == 400
    body = response.content.decode()
    assert "does not work" in body and 'action="/subscribe/"' in body
    assert ("expired" in body) == (kind == "expired")
    assert _state(subscriber) == before
    assert mail.outbox == []


def test_a_token_for_one_subscriber_does_not_work_on_another(client):
    alice = make_subscriber(email="alice@example.org")
    bob = make_subscriber(email="bob@example.org")
    alice_token = make_token(subscriber_id=alice.pk, token_key=alice.token_key, purpose=Purpose.UNSUBSCRIBE)
    # Bob's id with Alice's key and signature: the signature covers the id, so this is a forgery.
    swapped = f"{bob.pk}{alice_token[alice_token.index('.') :]}"
    # And a correctly signed token naming Bob's id with Alice's key: the key check refuses it.
    mixed = make_token(subscriber_id=bob.pk, token_key=alice.token_key, purpose=Purpose.UNSUBSCRIBE)
    for token in (swapped, mixed):
        assert client.post(f"/unsubscribe/{token}/", {"List-Unsubscribe": "One-Click"}).status_code == 400
        assert client.get(f"/preferences/{token}/").status_code == 400
    assert _state(alice)[0] == _state(bob)[0] == "active"


def test_unsubscribe_get_shows_a_button_and_changes_nothing(client):
    subscriber = make_subscriber()
    response = client.get(_path(links.unsubscribe_url(subscriber)))
    assert response.status_code == 200
    assert b'<button type="submit">Unsubscribe</button>' in response.content
    assert _state(subscriber)[0] == "active"


def test_unsubscribe_button_needs_csrf_and_one_click_does_not():
    subscriber = make_subscriber()
    url = _path(links.unsubscribe_url(subscriber))
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(url, {}).status_code == 403  # a plain form POST without the token
    assert _state(subscriber)[0] == "active"
    response = strict.post(url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    subscriber.refresh_from_db()
    assert (subscriber.status, subscriber.unsubscribed_via) == ("unsubscribed", "one-click")
    assert (
        strict.post(url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded").status_code
        == 200
    )


def test_unsubscribe_button_with_csrf_unsubscribes(client):
    subscriber = make_subscriber()
    response = client.post(_path(links.unsubscribe_url(subscriber)))
    assert response.status_code == 200 and b"You are unsubscribed" in response.content
    subscriber.refresh_from_db()
    assert (subscriber.status, subscriber.unsubscribed_via) == ("unsubscribed", "page")


def test_preferences_update_and_validation(client):
    subscriber = make_subscriber()
    url = _path(links.preferences_url(subscriber))
    assert client.get(url).status_code == 200
    ok = client.post(url, {"keywords": "LLM, robots", "frequency": "weekly", "time_zone": "Asia/Tokyo"})
    assert ok.status_code == 200 and b"Saved" in ok.content
    subscriber.refresh_from_db()
    assert (subscriber.keywords, subscriber.frequency, subscriber.time_zone) == (
        ["LLM", "robots"],
        "weekly",
        "Asia/Tokyo",
    )
    bad = client.post(url, {"keywords": "x", "frequency": "daily", "time_zone": "Mars/Base"})
    assert bad.status_code == 400
    subscriber.refresh_from_db()
    assert subscriber.time_zone == "Asia/Tokyo" and subscriber.keywords == ["LLM", "robots"]


def test_gdpr_export_and_delete(client):
    subscriber = make_subscriber(email="me@example.org", keywords=["LLM"])
    prefs = _path(links.preferences_url(subscriber))
    unsubscribe = _path(links.unsubscribe_url(subscriber))
    export = client.get(f"{prefs}export/")
    assert export.status_code == 200 and "attachment" in export["Content-Disposition"]
    data = json.loads(export.content)
    assert data["email"] == "me@example.org" and data["preferences"]["keywords"] == ["LLM"]
    assert client.get(f"{prefs}delete/").status_code == 405  # a GET (mail scanner) never deletes
    response = client.post(f"{prefs}delete/")
    assert response.status_code == 200 and b"deleted" in response.content
    assert not Subscriber.objects.exists()
    assert Suppression.objects.get().reason == "deleted"
    # Every old link now leads nowhere, and shows no address.
    assert client.get(prefs).status_code == 404
    gone = client.get(unsubscribe)
    assert b"me@example.org" not in gone.content and b"not on our list" in gone.content
    assert client.post(unsubscribe, {"List-Unsubscribe": "One-Click"}).status_code == 200
    assert client.get(f"{prefs}export/").status_code == 404
