"""Which editions the public sees: the web archive and the feed read them through here."""

from __future__ import annotations

from datetime import date as Date

from django.db.models import Count, QuerySet
from django.utils import timezone

from digest import edition_states
from digest.models import Edition
from digest.trending import edition_build


def public_editions() -> QuerySet[Edition]:
    return (
        Edition.objects.filter(status__in=edition_states.PUBLIC)
        .annotate(entry_count=Count("entries"))
        .order_by("-date", "frequency")
    )


def public_edition(*, day: Date, frequency: str) -> Edition | None:
    return Edition.objects.filter(status__in=edition_states.PUBLIC, date=day, frequency=frequency).first()


def sample_edition_publish(*, day: Date) -> Edition | None:
    """On a fresh install, build and approve the edition for ``day`` so the archive has something to show.

    Only while there is no edition at all: ``make run`` loads the sample on every start, and an operator's real
    editions must never be approved behind the curator's back.
    """
    if Edition.objects.exists():
        return None
    return edition_states.edition_auto_approve(edition=edition_build(date=day), now=timezone.now())
