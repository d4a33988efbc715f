"""Whether an edition may go out at all: never empty, never stale.

One rule for every way an edition is sent (the beat tick, ``send_edition``, the admin's "send now"):

- **empty**: an edition with no papers is never sent, whatever anyone asks;
- **stale** (daily editions only, while ``SKIP_STALE_DAILY`` is on): no page listing papers was ingested since the
  previous daily edition was built. The source publishes on weekdays only, so Saturday's and Sunday's editions would
  repeat Friday's list; they are skipped instead. "Previous" is the latest earlier daily edition that went out or was
  signed off to go (approved, sending, sent): a skipped weekend draft does not count, so Monday compares with Friday.

A page is new when it was ingested after the previous edition was built (a page listing Friday that arrives on
Saturday morning is news to the readers of Friday's edition, built before it came), or when it lists a day after the
previous edition's and not after this one's (editions built after the fact, from pages ingested all at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.db.models import Q

from digest.edition_states import SENDABLE
from digest.models import Appearance, Edition, EditionEntry, Frequency


class Unsendable(StrEnum):
    EMPTY = "empty"
    STALE = "stale"


@dataclass(frozen=True, slots=True)
class Sendability:
    problem: Unsendable | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None


def previous_edition(*, edition: Edition) -> Edition | None:
    """The latest earlier edition of the same frequency that went out or was signed off to go."""
    return (
        Edition.objects.filter(frequency=edition.frequency, date__lt=edition.date, status__in=SENDABLE)
        .order_by("-date")
        .first()
    )


def edition_sendability(*, edition: Edition, allow_stale: bool = False) -> Sendability:
    """May ``edition`` be sent? Two or three small queries. ``allow_stale``: an operator sends a stale one by name."""
    if not EditionEntry.objects.filter(edition=edition).exists():
        return Sendability(Unsendable.EMPTY, f"{edition} has no papers: an empty newsletter is never sent.")
    if allow_stale or edition.frequency != Frequency.DAILY or not settings.NEWSLETTER_SKIP_STALE_DAILY:
        return Sendability()
    previous = previous_edition(edition=edition)
    if previous is None:
        return Sendability()
    since = previous.built_at or previous.created_at
    new_page = Q(document__created_at__gt=since) | Q(listed_date__gt=previous.date, listed_date__lte=edition.date)
    if Appearance.objects.filter(new_page).exists():
        return Sendability()
    return Sendability(
        Unsendable.STALE,
        f"{edition} would repeat {previous.date:%Y-%m-%d}'s list: no page was ingested since that edition was built "
        f"({since:%Y-%m-%d %H:%M} UTC; the source publishes on weekdays only).",
    )
