"""The subscribe flow in headless Chromium, as a person on a phone goes through it, with no JavaScript of ours."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest
from django.core import mail

from subscribers import links
from subscribers.models import Subscriber
from tests.subscribers.factories import make_subscriber

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _link_in(message, kind: str) -> str:
    match = re.search(rf"https?://\S+/{kind}/\S+/", message.body)
    assert match, f"no {kind} link in {message.body!r}"
    return match.group(0)


@pytest.mark.usefixtures("eager_celery")
def test_subscribe_confirm_change_keywords_unsubscribe(page, axe_check):
    page.goto("/")
    assert page.get_by_role("heading", name="Get trending papers in your email inbox").is_visible()
    assert page.get_by_role("link", name="Archive").get_attribute("href") == "/editions/"
    axe_check(page)
    page.get_by_label("Email address").fill("Browser.Reader@Example.org")
    page.get_by_label("Keywords").fill("diffusion, <b>bold</b>")
    page.get_by_label("Weekly").check()
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()

    # The confirmation went through the configured email backend (Anymail's test backend in the suite).
    assert [m.subject for m in mail.outbox] == ["Confirm your subscription to Trending Papers"]
    assert mail.outbox[0].to == ["browser.reader@example.org"]
    page.goto(_link_in(mail.outbox[0], "confirm"))
    page.get_by_role("heading", name="You are subscribed").wait_for()
    axe_check(page)
    subscriber = Subscriber.objects.get()
    assert (subscriber.status, subscriber.frequency) == ("active", "weekly")
    assert subscriber.keywords == ["diffusion", "<b>bold</b>"]
    welcome = mail.outbox[1]
    assert welcome.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    page.get_by_role("link", name="Choose keywords and frequency").click()
    page.get_by_role("heading", name="Your preferences").wait_for()
    axe_check(page)
    assert page.get_by_label("Keywords").input_value() == "diffusion, <b>bold</b>"  # escaped, shown as typed
    page.get_by_label("Keywords").fill("robotics, LLM agents")
    page.get_by_label("Daily").check()
    page.get_by_label("Time zone").select_option("Europe/Berlin")
    page.get_by_role("button", name="Save preferences").click()
    page.get_by_role("status").wait_for()
    subscriber.refresh_from_db()
    assert (subscriber.keywords, subscriber.frequency, subscriber.time_zone) == (
        ["robotics", "LLM agents"],
        "daily",
        "Europe/Berlin",
    )

    page.goto(_link_in(welcome, "unsubscribe"))
    page.get_by_role("heading", name="Unsubscribe").wait_for()
    axe_check(page)
    subscriber.refresh_from_db()
    assert subscriber.status == "active"  # opening the page changes nothing
    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading", name="You are unsubscribed").wait_for()
    subscriber.refresh_from_db()
    assert (subscriber.status, subscriber.unsubscribed_via) == ("unsubscribed", "page")


def test_rfc8058_one_click_post_with_a_plain_http_client(site_url):
    subscriber = make_subscriber(email="one.click@example.org")
    url = links.list_unsubscribe_headers(subscriber)["List-Unsubscribe"].split(">")[0].lstrip("<")
    assert url.startswith(site_url)
    # What a mailbox provider sends: no cookie, no CSRF token, just the one-click body.
    request = urllib.request.Request(
        url,
        data=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert "Set-Cookie" not in response.headers
    subscriber.refresh_from_db()
    assert (subscriber.status, subscriber.unsubscribed_via) == ("unsubscribed", "one-click")
    # A POST without the one-click body is the button's form: it needs the CSRF token and cookie.
    other = make_subscriber(email="two@example.org")
    plain = urllib.request.Request(links.unsubscribe_url(other), data=b"", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(plain, timeout=10)
    assert refused.value.code == 403
    other.refresh_from_db()
    assert other.status == "active"


def test_bad_confirm_link_page_is_clear_and_accessible(page, axe_check):
    page.goto("/confirm/1.forged:1tAAAA:not-a-signature/")
    page.get_by_role("heading", name="This confirmation link does not work").wait_for()
    assert page.get_by_role("button", name="Subscribe").is_visible()
    axe_check(page)
