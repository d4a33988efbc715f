"""Headers that name the newsletter to mailbox providers: ``List-Id``, ``Feedback-ID`` and ``Message-ID``.

All three come from ``NEWSLETTER_NAME`` and the domain of ``DEFAULT_FROM_EMAIL`` (the sending domain, which DKIM
signs), computed once per process per value; the sender adds them to every edition with no query.
"""

from __future__ import annotations

import functools
from email.utils import formataddr, make_msgid, parseaddr

from django.conf import settings
from django.utils.text import slugify


@functools.lru_cache(maxsize=8)
def _domain(from_email: str) -> str:
    _, address = parseaddr(from_email)
    return address.rpartition("@")[2].lower() or "localhost"


def sender_domain() -> str:
    """The domain of ``DEFAULT_FROM_EMAIL``."""
    return _domain(settings.DEFAULT_FROM_EMAIL)


@functools.lru_cache(maxsize=8)
def _sender_id(name: str) -> str:
    return slugify(name)[:40].strip("-") or "newsletter"


def sender_id() -> str:
    """The newsletter's name as a stable label (``trending-papers``): the List-Id's and Feedback-ID's sender."""
    return _sender_id(settings.NEWSLETTER_NAME)


@functools.lru_cache(maxsize=8)
def _list_id(name: str, from_email: str) -> str:
    # RFC 2919: an optional phrase, then <label.domain> under a domain the sender controls.
    return formataddr((name, f"{_sender_id(name)}.{_domain(from_email)}"))


def list_id() -> str:
    """``Trending Papers <trending-papers.example.com>``: one list, whatever the reader's frequency."""
    return _list_id(settings.NEWSLETTER_NAME, settings.DEFAULT_FROM_EMAIL)


def feedback_id(*, edition_id: int, frequency: str) -> str:
    """Gmail's feedback-loop key, ``<edition>:<frequency>:newsletter:<sender>``: complaints are counted per field,
    the last one naming the sender across campaigns."""
    return f"{edition_id}:{frequency}:newsletter:{sender_id()}"


def message_id() -> str:
    """A fresh ``<...@sending-domain>`` (Django would otherwise use this host's name, which says nothing true)."""
    return make_msgid(domain=sender_domain())


def edition_headers(*, edition_id: int, frequency: str) -> dict[str, str]:
    """The list headers every copy of an edition carries (``Message-ID`` is added per message)."""
    return {"List-Id": list_id(), "Feedback-ID": feedback_id(edition_id=edition_id, frequency=frequency)}
