"""No repeats: which of an edition's papers each reader of a chunk already received, for the "Still trending" lines.

A paper counts as received when it was an entry of another edition (daily or weekly, dated on or before this one)
whose delivery to the reader the ESP accepted. So a weekly reader who also received dailies (they switched
frequency during the week: a reader has one frequency at a time in this data model, so "having both" means
deliveries of both kinds in their history) gets the week's best minus what their dailies already showed them.
One query per chunk for all its readers; the upvote history behind "+N upvotes since" is one query per edition.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from django.db.models import Min

from digest.models import Appearance, Edition, EditionEntry
from subscribers.models import Delivery


def received_before(
    *, edition: Edition, subscriber_ids: Sequence[int], paper_ids: Sequence[int]
) -> dict[int, dict[int, date]]:
    """reader -> {paper -> date of the first earlier edition that brought it to them}: one query."""
    rows = (
        EditionEntry.objects.filter(
            paper_id__in=list(paper_ids),
            edition__date__lte=edition.date,
            edition__deliveries__subscriber_id__in=list(subscriber_ids),
            edition__deliveries__status__in=Delivery.ACCEPTED,
        )
        .exclude(edition_id=edition.pk)
        .values_list("edition__deliveries__subscriber_id", "paper_id")
        .annotate(first=Min("edition__date"))
        .order_by()
    )
    out: dict[int, dict[int, date]] = defaultdict(dict)
    for subscriber_id, paper_id, first in rows:
        out[subscriber_id][paper_id] = first
    return dict(out)


@dataclass(frozen=True)
class UpvoteHistory:
    """Each paper's upvote counts by listing date, to tell how many it gained since a reader first saw it."""

    by_paper: dict[int, tuple[list[date], list[int]]]
    current: dict[int, int]

    def gained_since(self, paper_id: int, day: date) -> int:
        dates, counts = self.by_paper.get(paper_id, ([], []))
        at = bisect_right(dates, day)
        then = max(counts[:at], default=None)
        now = self.current.get(paper_id, 0)
        return max(0, now - then) if then is not None else 0


def upvote_history(*, paper_ids: Iterable[int], current: dict[int, int]) -> UpvoteHistory:
    """One query over the papers' listings; ``current`` is each paper's upvotes now (from the edition's entries)."""
    by_paper: dict[int, tuple[list[date], list[int]]] = {}
    rows = (
        Appearance.objects.filter(paper_id__in=list(paper_ids), listed_date__isnull=False, upvotes__isnull=False)
        .order_by("paper_id", "listed_date")
        .values_list("paper_id", "listed_date", "upvotes")
    )
    for paper_id, listed, upvotes in rows:
        if listed is None or upvotes is None:  # filtered out above; says so to the type checker
            continue
        dates, counts = by_paper.setdefault(paper_id, ([], []))
        dates.append(listed)
        counts.append(upvotes)
    return UpvoteHistory(by_paper=by_paper, current=dict(current))


@dataclass(frozen=True, slots=True)
class StillTrending:
    paper_id: int
    title: str
    day: int  # 1 on the day the reader first got it
    upvotes_gained: int

    def note(self) -> str:
        gained = f", +{self.upvotes_gained} upvotes since you first saw it" if self.upvotes_gained else ""
        return f"day {self.day}{gained}"

    def line(self) -> str:
        return f"{self.title} ({self.note()})"


def still_trending(
    *, received: dict[int, date], edition_date: date, titles: dict[int, str], history: UpvoteHistory
) -> list[StillTrending]:
    """The "Still trending" lines of one reader, in the order of ``titles`` (edition order)."""
    return [
        StillTrending(
            paper_id=paper_id,
            title=title,
            day=(edition_date - received[paper_id]).days + 1,
            upvotes_gained=history.gained_since(paper_id, received[paper_id]),
        )
        for paper_id, title in titles.items()
        if paper_id in received
    ]
