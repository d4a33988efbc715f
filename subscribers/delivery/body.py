"""The shared body of an edition as emailed, rendered once per process per built edition (templates and CSS
inlining are the costly part of a message; the per-recipient parts are filled in by ``edition_message``)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from django.conf import settings

from digest.models import Edition
from digest.rendering import EditionBody
from subscribers.clicks.emailed import emailed_body

# A worker sends one or two editions at a time (a daily and a weekly); a few more cover a curator's edits.
_KEEP = 4
_BODIES: OrderedDict[tuple[Any, ...], EditionBody] = OrderedDict()


def body_for(edition: Edition) -> EditionBody:
    """``emailed_body`` once per process per built edition; a rebuild or an edited subject or intro renders anew.

    Tracked links, when on, also write the edition's link table then (``subscribers.clicks.emailed``).
    """
    key = (
        edition.pk, edition.built_at, edition.subject, edition.intro, settings.DEFAULT_FROM_EMAIL,
        settings.TRACK_CLICKS, settings.SITE_URL,
    )  # fmt: skip
    body = _BODIES.get(key)
    if body is None:
        body = _BODIES[key] = emailed_body(edition)
        while len(_BODIES) > _KEEP:
            _BODIES.popitem(last=False)
    return body


def clear_body_cache() -> None:
    _BODIES.clear()
