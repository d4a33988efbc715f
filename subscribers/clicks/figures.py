"""What curators see of clicks: counts only, bot-flagged clicks left out, in one grouped query per page.

A reader is a *clicker* of a paper when at least one of their requests to one of its links passed the bot rule
(``Click.objects.counted()``); the click rate divides clickers by the edition's delivered figure (the same
``delivered`` group as every other delivery figure, ``subscribers.reports.REACHED``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count

from subscribers.models import Click


@dataclass(frozen=True, slots=True)
class ClickRate:
    clickers: int
    delivered: int

    @property
    def rate(self) -> float | None:
        """clickers / delivered, 0..1; None before any delivery is known to have arrived."""
        return self.clickers / self.delivered if self.delivered else None

    @property
    def percent(self) -> float | None:
        return None if self.rate is None else 100 * self.rate


def clickers_per_paper(*, edition_id: int) -> dict[int, int]:
    """Readers who clicked each paper of the edition (any of its links): one query."""
    rows = (
        Click.objects.counted()
        .filter(edition_id=edition_id)
        .values("paper_id")
        .annotate(clickers=Count("subscriber_id", distinct=True))
        .values_list("paper_id", "clickers")
        .order_by()
    )
    return dict(rows)


def clickers_per_edition(*, edition_ids: Iterable[int]) -> dict[int, int]:
    """Readers who clicked any paper of each edition: one query, editions without clicks left out."""
    rows = (
        Click.objects.counted()
        .filter(edition_id__in=list(edition_ids))
        .values("edition_id")
        .annotate(clickers=Count("subscriber_id", distinct=True))
        .values_list("edition_id", "clickers")
        .order_by()
    )
    return dict(rows)
