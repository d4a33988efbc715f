"""Absolute links for subscriber emails and the List-Unsubscribe headers (RFC 2369 + RFC 8058).

Everything here is computed from the subscriber's id and token key with no database query: the sender calls these
once per recipient per edition.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Protocol
from urllib.parse import quote

from django.conf import settings
from django.urls import reverse

from subscribers.tokens import Purpose, make_token


class Linkable(Protocol):
    pk: int
    token_key: str


def _token(subscriber: Linkable, purpose: Purpose) -> str:
    return make_token(subscriber_id=subscriber.pk, token_key=subscriber.token_key, purpose=purpose)


def _absolute(name: str, token: str) -> str:
    return f"{settings.SITE_URL}{reverse(name, kwargs={'token': token})}"


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
    _, from_address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    domain = from_address.rpartition("@")[2] or "localhost"
    return f"unsubscribe@{domain}"


def list_unsubscribe_headers(subscriber: Linkable) -> dict[str, str]:
    """The two headers every subscribed mail carries, so mailbox providers can offer one-click unsubscribe.

    The mailto subject carries the same unsubscribe token as the URL, so an inbound-mail handler can act on it
    without trusting the (forgeable) From address.
    """
    token = _token(subscriber, Purpose.UNSUBSCRIBE)
    url = _absolute("subscribers:unsubscribe", token)
    mailto = f"mailto:{unsubscribe_mailto_address()}?subject={quote('unsubscribe ' + token)}"
    return {
        "List-Unsubscribe": f"<{url}>, <{mailto}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
