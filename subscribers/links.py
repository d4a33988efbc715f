"""Absolute links for subscriber emails and the List-Unsubscribe headers (RFC 2369 + RFC 8058).

Everything here is computed from the subscriber's id and token key with no database query: the sender calls these
once per recipient per edition.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Protocol
from urllib.parse import quote

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse

from subscribers.tokens import FeedbackSigner, Purpose, make_token


class Linkable(Protocol):
    # Read-only: a subscriber row and the preview's frozen stand-in both qualify.
    @property
    def pk(self) -> int: ...
    @property
    def token_key(self) -> str: ...


def _token(subscriber: Linkable, purpose: Purpose) -> str:
    return make_token(subscriber_id=subscriber.pk, token_key=subscriber.token_key, purpose=purpose)


# Characters ``reverse()`` leaves as they are (unreserved, plus ':' which it keeps safe): every token we sign is
# made of these, so the URL is the reversed path with the token pasted in, byte for byte what reverse() returns.
_VERBATIM = re.compile(r"[A-Za-z0-9._~:-]+")
_PLACEHOLDER = "nl0token0placeholder"
# (name, script prefix, urlconf) -> the path before and after the token. Reversing costs ~60 us; the sender needs
# two of these per recipient, so each name is reversed once per process (per urlconf and script prefix).
_PATHS: dict[tuple[str, str, str | None], tuple[str, str]] = {}


def _path(name: str, token: str) -> str:
    if not _VERBATIM.fullmatch(token):
        return reverse(name, kwargs={"token": token})
    key = (name, get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF)
    parts = _PATHS.get(key)
    if parts is None:
        path = reverse(name, kwargs={"token": _PLACEHOLDER})
        if path.count(_PLACEHOLDER) != 1:
            return reverse(name, kwargs={"token": token})
        before, _, after = path.partition(_PLACEHOLDER)
        parts = _PATHS[key] = (before, after)
    return f"{parts[0]}{token}{parts[1]}"


def _absolute(name: str, token: str) -> str:
    return f"{settings.SITE_URL}{_path(name, token)}"


def confirm_url(subscriber: Linkable) -> str:
    return _absolute("subscribers:confirm", _token(subscriber, Purpose.CONFIRM))


def preferences_url(subscriber: Linkable) -> str:
    return _absolute("subscribers:preferences", _token(subscriber, Purpose.PREFERENCES))


def unsubscribe_url(subscriber: Linkable) -> str:
    return _absolute("subscribers:unsubscribe", _token(subscriber, Purpose.UNSUBSCRIBE))


def unsubscribe_mailto_address() -> str:
    """``UNSUBSCRIBE_MAILTO``, or ``unsubscribe@`` the domain of ``DEFAULT_FROM_EMAIL``."""
    if settings.UNSUBSCRIBE_MAILTO:
        return settings.UNSUBSCRIBE_MAILTO
    return _default_mailto(settings.DEFAULT_FROM_EMAIL)


@functools.lru_cache(maxsize=8)
def _default_mailto(from_email: str) -> str:
    _, from_address = parseaddr(from_email)
    domain = from_address.rpartition("@")[2] or "localhost"
    return f"unsubscribe@{domain}"


def _mailto_subject(token: str) -> str:
    # quote() keeps letters, digits and "_.-~" and escapes the rest: for a verbatim token only ':' and the space.
    if _VERBATIM.fullmatch(token):
        return "unsubscribe%20" + token.replace(":", "%3A")
    return quote("unsubscribe " + token)


def list_unsubscribe_headers(subscriber: Linkable) -> dict[str, str]:
    """The two headers every subscribed mail carries, so mailbox providers can offer one-click unsubscribe.

    The mailto subject carries the same unsubscribe token as the URL, so an inbound-mail handler can act on it
    without trusting the (forgeable) From address.
    """
    token = _token(subscriber, Purpose.UNSUBSCRIBE)
    return _list_unsubscribe(_absolute("subscribers:unsubscribe", token), token)


def _list_unsubscribe(url: str, token: str) -> dict[str, str]:
    mailto = f"mailto:{unsubscribe_mailto_address()}?subject={_mailto_subject(token)}"
    return {
        "List-Unsubscribe": f"<{url}>, <{mailto}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


@dataclass(frozen=True, slots=True)
class SubscribedLinks:
    """The personal links of one subscribed mail: each token signed once, the unsubscribe one shared by the footer
    link and the List-Unsubscribe header."""

    preferences_url: str
    unsubscribe_url: str
    list_unsubscribe_headers: dict[str, str]


def subscribed_links(subscriber: Linkable) -> SubscribedLinks:
    """What ``preferences_url``, ``unsubscribe_url`` and ``list_unsubscribe_headers`` give, for the price of two
    signatures; the sender calls it once per recipient."""
    unsubscribe_token = _token(subscriber, Purpose.UNSUBSCRIBE)
    unsubscribe = _absolute("subscribers:unsubscribe", unsubscribe_token)
    return SubscribedLinks(
        preferences_url=preferences_url(subscriber),
        unsubscribe_url=unsubscribe,
        list_unsubscribe_headers=_list_unsubscribe(unsubscribe, unsubscribe_token),
    )


# --- Feedback ("More like this" / "Less like this") ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedbackLinks:
    more_url: str
    less_url: str


def _around_token(name: str) -> tuple[str, str]:
    """The absolute URL of ``name`` before and after its token (every feedback token is verbatim in a path)."""
    before, after = _path(name, _PLACEHOLDER).split(_PLACEHOLDER)
    return f"{settings.SITE_URL}{before}", after


_FEEDBACK_PARTS: dict[tuple[str, str, str | None], tuple[tuple[str, str], tuple[str, str]]] = {}


def feedback_url_parts() -> tuple[tuple[str, str], tuple[str, str]]:
    """(before, after) the token of the "more" and of the "less" URL, worked out once per process (per site URL,
    script prefix and urlconf): a message then needs only the token per paper."""
    key = (settings.SITE_URL, get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF)
    parts = _FEEDBACK_PARTS.get(key)
    if parts is None:
        parts = _FEEDBACK_PARTS[key] = (
            _around_token("subscribers:feedback_more"),
            _around_token("subscribers:feedback_less"),
        )
    return parts


class ReaderFeedbackLinks:
    """One reader's feedback links, paper after paper: one HMAC and two string joins per paper, no query."""

    def __init__(self, subscriber: Linkable) -> None:
        self._signer = FeedbackSigner(subscriber_id=subscriber.pk, token_key=subscriber.token_key)
        self._more, self._less = feedback_url_parts()
        self.token = self._signer.token

    def __call__(self, paper_id: int) -> FeedbackLinks:
        token = self._signer.token(paper_id)
        return FeedbackLinks(
            more_url=f"{self._more[0]}{token}{self._more[1]}", less_url=f"{self._less[0]}{token}{self._less[1]}"
        )


def feedback_links(subscriber: Linkable, paper_id: int) -> FeedbackLinks:
    """The two feedback links of one paper for one reader."""
    return ReaderFeedbackLinks(subscriber)(paper_id)
