from __future__ import annotations

from datetime import timedelta
from urllib.parse import unquote

import pytest
import time_machine
from django.utils import timezone

from subscribers import links
from subscribers.tokens import Purpose, TokenError, claim_matches, make_token, read_token
from tests.subscribers.factories import make_subscriber

pytestmark = pytest.mark.django_db


def _token_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def test_links_are_absolute_and_distinct_per_purpose(settings):
    settings.SITE_URL = "https://papers.example.net"
    subscriber = make_subscriber()
    urls = [links.confirm_url(subscriber), links.preferences_url(subscriber), links.unsubscribe_url(subscriber)]
    assert urls[0].startswith("https://papers.example.net/confirm/")
    assert urls[1].startswith("https://papers.example.net/preferences/")
    assert urls[2].startswith("https://papers.example.net/unsubscribe/")
    assert len({_token_of(url) for url in urls}) == 3


def test_list_unsubscribe_headers_exact_shape_and_no_queries(settings, django_assert_num_queries):
    settings.SITE_URL = "https://papers.example.net"
    settings.DEFAULT_FROM_EMAIL = "Trending Papers <news@papers.example.net>"
    settings.UNSUBSCRIBE_MAILTO = ""
    subscriber = make_subscriber()
    with django_assert_num_queries(0):
        headers = links.list_unsubscribe_headers(subscriber)
    assert set(headers) == {"List-Unsubscribe", "List-Unsubscribe-Post"}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https_part, mailto_part = headers["List-Unsubscribe"].split(", ")
    assert https_part == f"<{links.unsubscribe_url(subscriber)}>"
    assert mailto_part.startswith("<mailto:unsubscribe@papers.example.net?subject=unsubscribe%20")
    mailto_token = unquote(mailto_part.removesuffix(">").split("subject=")[1]).split(" ")[1]
    assert read_token(mailto_token, purpose=Purpose.UNSUBSCRIBE).subscriber_id == subscriber.pk
    assert "\n" not in headers["List-Unsubscribe"] and "\r" not in headers["List-Unsubscribe"]


def test_mailto_setting_wins(settings):
    settings.UNSUBSCRIBE_MAILTO = "leave@lists.example.com"
    assert (
        "<mailto:leave@lists.example.com?subject="
        in links.list_unsubscribe_headers(make_subscriber())["List-Unsubscribe"]
    )


def test_token_round_trip_and_purpose_separation():
    token = make_token(subscriber_id=42, token_key="k3y", purpose=Purpose.UNSUBSCRIBE)
    claim = read_token(token, purpose=Purpose.UNSUBSCRIBE)
    assert (claim.subscriber_id, claim_matches(claim, token_key="k3y")) == (42, True)
    assert not claim_matches(claim, token_key="other")
    with pytest.raises(TokenError):
        read_token(token, purpose=Purpose.PREFERENCES)
    with pytest.raises(TokenError):
        read_token(token, purpose=Purpose.CONFIRM)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # tampered signature
        lambda t: "43" + t[t.index(".") :],  # another subscriber id under the same signature
        lambda t: t.split(":")[0],  # signature stripped
        lambda t: "",
        lambda t: t * 5,  # over-long
        lambda t: "1.abc:xyz:forged",
    ],
)
def test_forged_and_tampered_tokens_are_refused(mangle):
    token = make_token(subscriber_id=42, token_key="k3y", purpose=Purpose.CONFIRM)
    with pytest.raises(TokenError) as info:
        read_token(mangle(token), purpose=Purpose.CONFIRM)
    assert not info.value.expired


def test_expiry_is_reported_as_such():
    with time_machine.travel(timezone.now() - timedelta(days=8)):
        token = make_token(subscriber_id=1, token_key="k", purpose=Purpose.CONFIRM)
    with pytest.raises(TokenError) as info:
        read_token(token, purpose=Purpose.CONFIRM, max_age=timedelta(days=7))
    assert info.value.expired
    assert read_token(token, purpose=Purpose.CONFIRM).subscriber_id == 1  # unsubscribe links never expire
