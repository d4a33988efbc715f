from __future__ import annotations

import pytest

from subscribers.clicks.tokens import ClickClaim, ClickTokenError, make_click_token, read_click_token
from subscribers.tokens import Purpose, make_token


def test_a_token_names_the_reader_and_the_edition() -> None:
    token = make_click_token(subscriber_id=42, edition_id=7)

    assert read_click_token(token) == ClickClaim(subscriber_id=42, edition_id=7)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace("42.7", "43.7", 1),  # another reader
        lambda t: t.replace("42.7", "42.8", 1),  # another edition
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # the signature
        lambda t: t[: len(t) // 2],  # truncated
        lambda t: "",
        lambda t: t + "x" * 200,  # too long to be ours
    ],
)
def test_a_changed_token_is_refused(tamper) -> None:
    token = make_click_token(subscriber_id=42, edition_id=7)

    with pytest.raises(ClickTokenError):
        read_click_token(tamper(token))


def test_a_token_for_another_purpose_is_refused() -> None:
    # Same shape ("<id>.<something>:<signature>"), other salt: an unsubscribe token opens no redirect.
    with pytest.raises(ClickTokenError):
        read_click_token(make_token(subscriber_id=42, token_key="7", purpose=Purpose.UNSUBSCRIBE))


def test_a_token_signed_with_another_secret_is_refused(settings) -> None:
    token = make_click_token(subscriber_id=42, edition_id=7)
    settings.SECRET_KEY = "another-" + settings.SECRET_KEY

    with pytest.raises(ClickTokenError):
        read_click_token(token)
