"""Figures for curators: how an edition's deliveries went, and how the list changes over time.

Each function answers in a fixed number of grouped queries, whatever the number of subscribers or deliveries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date as Date
from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from subscribers.counts import delivery_counts, edition_delivery_count, subscriber_counts, subscriber_day_counts
from subscribers.models import Delivery, Subscriber

S = Delivery.Status
# A delivery's status is its furthest step, so a clicked message was also sent, delivered and opened: each figure
# counts every delivery that got at least that far. The groups are the Delivery model's, so every page that shows a
# figure (the edition page, the edition list, the dashboard) counts the same deliveries under the same name.
REACHED: dict[str, tuple[str, ...]] = {
    "queued": Delivery.WAITING,
    "sent": Delivery.ACCEPTED,
    "failed": (S.FAILED,),
    "delivered": Delivery.DELIVERED_OR_LATER,
    "bounced": (S.BOUNCED,),
    "complained": (S.COMPLAINED,),
    "opened": Delivery.OPENED_OR_LATER,
    "clicked": (S.CLICKED,),
}


@dataclass(frozen=True, slots=True)
class DeliveryFigures:
    by_status: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    def reached(self, step: str) -> int:
        return sum(self.by_status.get(status, 0) for status in REACHED[step])

    @property
    def problems(self) -> int:
        """Deliveries worth a curator's look (``Delivery.PROBLEM``): the ones ``delivery_problems`` lists."""
        return sum(self.by_status.get(status, 0) for status in Delivery.PROBLEM)

    def as_rows(self) -> list[tuple[str, int]]:
        """(figure, count) in the order a curator reads them: queued, sent, failed, delivered, ... clicked."""
        return [(step, self.reached(step)) for step in REACHED]


def delivery_figure_annotations() -> dict[str, Any]:
    """``n_sent`` and ``n_problems`` for an edition queryset (a list page, sortable), from the kept counts (a count
    over an edition's million deliveries per row would be the whole page): the same groups, and so the same numbers,
    as ``DeliveryFigures.reached("sent")`` and ``DeliveryFigures.problems`` on the edition's page."""
    return {"n_sent": edition_delivery_count(REACHED["sent"]), "n_problems": edition_delivery_count(Delivery.PROBLEM)}


def delivery_figures(*, edition_ids: Iterable[int]) -> dict[int, DeliveryFigures]:
    """Per-edition figures for many editions, read from the kept counts (one small query whatever the number of
    deliveries); editions without deliveries get zeros."""
    return {
        edition_id: DeliveryFigures(by_status=by_status)
        for edition_id, by_status in delivery_counts(edition_ids=edition_ids).items()
    }


def delivery_problems(*, edition_id: int, limit: int = 50) -> QuerySet[Delivery]:
    """The deliveries of an edition that did not go well, newest first, with the reason and the address."""
    return (
        Delivery.objects.filter(edition_id=edition_id, status__in=Delivery.PROBLEM)
        .select_related("subscriber")
        .only("id", "status", "last_error", "attempts", "updated_at", "subscriber__id", "subscriber__email")
        .order_by("-updated_at")[:limit]
    )


@dataclass(frozen=True, slots=True)
class ListHistory:
    """Daily figures for the ``days`` days ending ``end`` (oldest first)."""

    days: list[Date]
    active: list[int]
    signups: list[int]
    confirmations: list[int]
    unsubscribes: list[int]
    bounces: list[int]
    complaints: list[int]


def list_history(*, end: Date, days: int = 30) -> ListHistory:
    """Sign-ups, confirmations, unsubscribes, bounces, complaints per day, and the active count at each day's end.

    Each day's figure counts the subscribers whose timestamp of that kind falls on it, read from the figures the
    database keeps per day (``subscriber_day_counts``) rather than grouping the month's rows. The active series is
    walked back from today's count, undoing each day's confirmations and departures: two small queries in all. A
    subscriber who left and later came back is counted as the timestamps record them (only the latest of each kind
    is kept), so the far end of the series is an estimate when people re-subscribe.
    """
    start = end - timedelta(days=days - 1)
    day_list = [start + timedelta(days=i) for i in range(days)]
    per_day = subscriber_day_counts(since=start)
    signups = per_day["created_at"]
    confirmed = per_day["confirmed_at"]
    unsubscribed = per_day["unsubscribed_at"]
    bounced = per_day["bounced_at"]
    complained = per_day["complained_at"]

    # Walk back from today (not from ``end``), so a history ending in the past still starts from a true count.
    today = max(timezone.localdate(), end)
    running = subscriber_counts().get(Subscriber.Status.ACTIVE, 0)
    active_at: dict[Date, int] = {}
    day = today
    while day >= start:
        active_at[day] = max(running, 0)
        running -= confirmed.get(day, 0) - unsubscribed.get(day, 0) - bounced.get(day, 0) - complained.get(day, 0)
        day -= timedelta(days=1)
    active = [active_at[day] for day in day_list]
    return ListHistory(
        days=day_list,
        active=active,
        signups=[signups.get(day, 0) for day in day_list],
        confirmations=[confirmed.get(day, 0) for day in day_list],
        unsubscribes=[unsubscribed.get(day, 0) for day in day_list],
        bounces=[bounced.get(day, 0) for day in day_list],
        complaints=[complained.get(day, 0) for day in day_list],
    )
