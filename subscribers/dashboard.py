"""The curators' dashboard: how the list grows and leaves, and how the last editions went, as small inline SVG charts.

The charts are computed here as coordinates and drawn by the template with plain <svg> elements: no script, no
remote asset, nothing for a Content-Security-Policy to block.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from digest.models import Edition
from subscribers.admin.brake import RESUME_PERMISSION, released_text, resume_and_log
from subscribers.brake import BrakeStateError, brake_state
from subscribers.clicks.figures import ClickRate, clickers_per_edition
from subscribers.counts import subscriber_counts
from subscribers.models import Subscriber
from subscribers.reports import delivery_figures, list_history

CHART_WIDTH = 300
CHART_HEIGHT = 64
RATE_EDITIONS = 30  # the click-rate chart: the latest sent or sending editions, oldest first


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    """One small chart: a polyline (``points``) or bars, in a ``width`` x ``height`` viewBox."""

    title: str
    total: int
    latest: int
    peak: int
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    points: str = ""
    bars: tuple[Bar, ...] = ()


def _scale(value: float, peak: float, height: int) -> float:
    # Leave a pixel at the top so a line at the peak is not clipped.
    return round((height - 1) * (value / peak), 2) if peak else 0.0


def line_chart(title: str, days: list[Date], values: list[int]) -> Chart:
    peak = max(values, default=0)
    step = CHART_WIDTH / max(len(values) - 1, 1)
    points = " ".join(
        f"{round(i * step, 2)},{round(CHART_HEIGHT - _scale(v, peak, CHART_HEIGHT), 2)}" for i, v in enumerate(values)
    )
    return Chart(title=title, total=sum(values), latest=values[-1] if values else 0, peak=peak, points=points)


def _bars(values: list[float], labels: list[str], peak: float) -> tuple[Bar, ...]:
    slot = CHART_WIDTH / max(len(values), 1)
    return tuple(
        Bar(
            x=round(i * slot + slot * 0.1, 2),
            y=round(CHART_HEIGHT - _scale(v, peak, CHART_HEIGHT), 2),
            width=round(slot * 0.8, 2),
            height=_scale(v, peak, CHART_HEIGHT),
            label=label,
        )
        for i, (v, label) in enumerate(zip(values, labels, strict=True))
    )


def bar_chart(title: str, days: list[Date], values: list[int]) -> Chart:
    peak = max(values, default=0)
    bars = _bars([float(v) for v in values], [f"{day:%b %d}: {v}" for day, v in zip(days, values, strict=True)], peak)
    return Chart(title=title, total=sum(values), latest=values[-1] if values else 0, peak=peak, bars=bars)


@dataclass(frozen=True, slots=True)
class RateChart:
    """Click rate per edition, oldest first: one bar per edition, scaled to the highest rate shown."""

    title: str
    bars: tuple[Bar, ...]
    latest: ClickRate | None
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT


def click_rate_chart(editions: list[Edition], rates: dict[int, ClickRate]) -> RateChart:
    percents = [rates[e.pk].percent or 0.0 for e in editions]
    labels = []
    for edition in editions:
        rate = rates[edition.pk]
        shown = f"{rate.percent:.1f}%" if rate.percent is not None else "no delivery confirmed"
        labels.append(f"{edition}: {shown} ({rate.clickers} of {rate.delivered} delivered)")
    return RateChart(
        title="Click rate per edition",
        bars=_bars(percents, labels, max(percents, default=0.0)),
        latest=rates[editions[-1].pk] if editions else None,
    )


def click_rates(editions: list[Edition]) -> dict[int, ClickRate]:
    """Unique clickers / delivered of each edition, bot-flagged clicks left out: two queries for any number."""
    ids = [e.pk for e in editions]
    figures = delivery_figures(edition_ids=ids)
    clickers = clickers_per_edition(edition_ids=ids)
    return {pk: ClickRate(clickers.get(pk, 0), figures[pk].reached("delivered")) for pk in ids}


@dataclass(frozen=True, slots=True)
class EditionRow:
    edition: Edition
    figures: list[tuple[str, int]]
    sent: int
    opened_share: float  # of sent, 0..1
    clicks: ClickRate


def dashboard_context(
    *, today: Date, now: datetime | None = None, days: int = 30, editions: int = 10
) -> dict[str, object]:
    """Everything the dashboard shows, in a fixed number of queries (clicks: the rows' clickers, and the rate
    chart's editions, figures and clickers)."""
    history = list_history(end=today, days=days)
    recent = list(
        Edition.objects.exclude(status=Edition.Status.CANCELLED)
        .select_related("approved_by")
        .order_by("-date", "frequency")[:editions]
    )
    figures = delivery_figures(edition_ids=[e.pk for e in recent])
    clickers = clickers_per_edition(edition_ids=[e.pk for e in recent])
    rated = list(
        Edition.objects.filter(status__in=(Edition.Status.SENDING, Edition.Status.SENT)).order_by("-date", "frequency")[
            :RATE_EDITIONS
        ]
    )[::-1]
    rows = []
    for edition in recent:
        f = figures[edition.pk]
        sent = f.reached("sent")
        rows.append(
            EditionRow(
                edition=edition,
                figures=f.as_rows(),
                sent=sent,
                opened_share=f.reached("opened") / sent if sent else 0.0,
                clicks=ClickRate(clickers.get(edition.pk, 0), f.reached("delivered")),
            )
        )
    status_counts = subscriber_counts()
    return {
        "days": days,
        "status_counts": [(label, status_counts.get(value, 0)) for value, label in Subscriber.Status.choices],
        "active_chart": line_chart("Active subscribers", history.days, history.active),
        "daily_charts": [
            bar_chart("Sign-ups", history.days, history.signups),
            bar_chart("Confirmations", history.days, history.confirmations),
            bar_chart("Unsubscribes", history.days, history.unsubscribes),
            bar_chart(
                "Bounces and complaints",
                history.days,
                [b + c for b, c in zip(history.bounces, history.complaints, strict=True)],
            ),
        ],
        "first_day": history.days[0],
        "last_day": history.days[-1],
        "edition_rows": rows,
        "click_chart": click_rate_chart(rated, click_rates(rated)),
        "brake": brake_state(now=now or timezone.now()),
    }


def dashboard(request: HttpRequest) -> HttpResponse:
    """Wrapped in ``admin.site.admin_view`` in the URLconf: staff only, like every admin page."""
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        **dashboard_context(today=timezone.localdate()),
        "can_resume": request.user.has_perm(RESUME_PERMISSION),
    }
    return TemplateResponse(request, "admin/dashboard.html", context)


@require_POST
def dashboard_resume(request: HttpRequest) -> HttpResponse:
    """The dashboard's "Resume sending" button; wrapped in ``admin.site.admin_view`` in the URLconf, like the page."""
    if not request.user.has_perm(RESUME_PERMISSION):
        raise PermissionDenied
    try:
        resumed = resume_and_log(request)
    except BrakeStateError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, released_text(resumed))
    return HttpResponseRedirect(reverse("admin-dashboard"))
