"""Readers' clicks as a trending signal, read from the per-paper daily counts the subscribers side keeps.

``PaperClicks`` holds, per paper and day, how many readers clicked the paper for the first time (mail scanners and
bots left out), so the sum over a window counts each reader at most once per paper.
"""

from __future__ import annotations

import math
from datetime import date as Date
from datetime import timedelta

from django.conf import settings
from django.db.models import Sum

from digest.models import PaperClicks


def recent_readers(*, as_of: Date, days: int | None = None) -> dict[int, int]:
    """Readers who clicked each paper in the ``days`` days ending ``as_of`` (``TRENDING_CLICK_DAYS``); one query.

    Only papers of recent editions have rows, so the window alone bounds the answer.
    """
    days = days or settings.TRENDING_CLICK_DAYS
    start = as_of - timedelta(days=days - 1)
    rows = (
        PaperClicks.objects.filter(day__gte=start, day__lte=as_of)
        .values_list("paper_id")
        .annotate(n=Sum("readers"))
        .order_by()
    )
    return dict(rows)


def clicks_part(readers: int) -> float:
    """``TRENDING_CLICK_WEIGHT`` * log2(1 + readers): like upvotes, so a big list does not drown every other part."""
    return settings.TRENDING_CLICK_WEIGHT * math.log2(1 + max(readers, 0))
