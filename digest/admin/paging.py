"""Admin lists over millions of rows: count what is cheap to count, estimate the rest.

A changelist counts its rows on every page view to draw its page links; over a table of millions that count costs
more than the rest of the page. ``EstimatedCountPaginator`` counts exactly up to ``EXACT_UP_TO`` rows (a count over
``LIMIT EXACT_UP_TO + 1``, which stops early), and past that takes PostgreSQL's planner estimate for the same
query: the table's statistics kept by autovacuum for an unfiltered list, the filter's selectivity otherwise. The
page then says "about" before the number (``templates/admin/pagination.html``). Other databases count exactly.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

from config.admin_base import GuardedModelAdmin

EXACT_UP_TO = 10_000


def planner_rows(queryset: QuerySet[Any]) -> int:
    """PostgreSQL's estimate of the rows ``queryset`` returns, without running it."""
    plan = json.loads(queryset.order_by().values("pk").explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    estimated = False  # True once ``count`` is the planner's estimate rather than a count

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet) or connections[queryset.db].vendor != "postgresql":
            return super().count
        counted = queryset.order_by()[: EXACT_UP_TO + 1].count()
        if counted <= EXACT_UP_TO:
            return counted
        self.estimated = True
        return max(planner_rows(queryset), counted)


class ScaledAdmin(GuardedModelAdmin):
    """What every admin list over a big table shares: estimated counts, and no per-filter counts (facets), which
    would each count the whole table. On the project's guarded base, like every ModelAdmin (config/admin_base.py)."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
