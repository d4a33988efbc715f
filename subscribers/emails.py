"""The one place that turns an email kind into subject, text and HTML, and those into an Anymail message.

Each kind is a template triple under ``templates/emails/``: ``<kind>-subject.txt``, ``<kind>-body.txt`` and
``<kind>-body.html``. The HTML's ``<style>`` rules are inlined by css-inline (mail clients drop or ignore head
styles); ``@media`` rules stay in a ``<style>`` block because they cannot be inlined and clients that support them
read them there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import css_inline
from anymail.message import AnymailMessage
from django.conf import settings
from django.template.loader import render_to_string

from subscribers.headers import message_id

_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
_KIND = re.compile(r"[a-z][a-z0-9_-]{0,63}")
# RFC 5322 header field bodies may not contain CR or LF (folding is the library's job), nor NUL.
_HEADER_UNSAFE = re.compile(r"[\r\n\x00]")
_HEADER_NAME = re.compile(r"[!-9;-~]{1,76}")  # printable ASCII without ':' (RFC 5322 ftext)


class HeaderInjectionError(ValueError):
    """A header name or value (or the recipient) would have smuggled extra header lines into the message."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render_email(kind: str, context: dict[str, Any]) -> RenderedEmail:
    if not _KIND.fullmatch(kind):
        raise ValueError(f"unknown email kind {kind!r}")
    context = {"newsletter_name": settings.NEWSLETTER_NAME, "site_url": settings.SITE_URL, **context}
    # A subject is one line whatever the template or the user text inside it did.
    subject = " ".join(render_to_string(f"emails/{kind}-subject.txt", context).split())
    text = render_to_string(f"emails/{kind}-body.txt", context).strip() + "\n"
    html = _INLINER.inline(render_to_string(f"emails/{kind}-body.html", context))
    return RenderedEmail(subject=subject, text=text, html=html)


def _check_header(name: str, value: str) -> None:
    if not _HEADER_NAME.fullmatch(name):
        raise HeaderInjectionError(f"invalid header name {name!r}")
    if _HEADER_UNSAFE.search(value):
        raise HeaderInjectionError(f"header {name} contains a line break")


def build_message(
    *,
    rendered: RenderedEmail,
    to: str,
    headers: dict[str, str] | None = None,
    tags: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    connection: Any = None,
) -> AnymailMessage:
    """A two-part message (text, then the HTML alternative) for one recipient.

    Every header value, the subject and the recipient are checked for line breaks here, before any backend sees
    them: Django only checks when it builds MIME, and API-based ESPs never do. Each message gets a ``Message-ID``
    on the sending domain unless ``headers`` names one.
    """
    _check_header("To", to)
    _check_header("Subject", rendered.subject)
    headers = dict(headers or {})
    for name, value in headers.items():
        _check_header(name, value)
    headers.setdefault("Message-ID", message_id())
    message = AnymailMessage(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers=headers,
        tags=list(tags or []),
        metadata=dict(metadata or {}),
        connection=connection,
    )
    message.attach_alternative(rendered.html, "text/html")
    return message
