"""Merging click events into ``Click`` rows, and the per-paper daily reader counts trending reads.

One batch costs a fixed number of queries whatever its size. Every write happens under one row lock (the stream's
``ClickStreamMark``), so the drain and the embedded default's direct recording never merge the same row at once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from digest.models import Edition, Paper, PaperClicks
from subscribers.clicks.agents import flag_reason
from subscribers.models import Click, ClickStreamMark, Delivery, Subscriber

logger = logging.getLogger(__name__)

Key = tuple[int, int, int, str]  # subscriber, edition, paper, link kind


@dataclass(frozen=True, slots=True)
class ClickEvent:
    """One request to the redirect, as recorded: no address, no raw User-Agent, no IP."""

    subscriber_id: int
    edition_id: int
    paper_id: int
    kind: str
    at: datetime
    head: bool
    agent: str

    @property
    def key(self) -> Key:
        return (self.subscriber_id, self.edition_id, self.paper_id, self.kind)


@dataclass(frozen=True, slots=True)
class ApplyResult:
    applied: int  # events merged into Click rows
    dropped: int  # events whose reader, edition or paper no longer exists
    new_readers: int  # (reader, paper) pairs counted for the first time


def locked_mark(stream: str) -> ClickStreamMark:
    """The stream's mark row, locked until the surrounding transaction ends."""
    ClickStreamMark.objects.get_or_create(stream=stream)
    return ClickStreamMark.objects.select_for_update().get(stream=stream)


def clicks_apply(*, events: Sequence[ClickEvent]) -> ApplyResult:
    """Apply events now, in a transaction of their own (the path without Redis)."""
    with transaction.atomic():
        locked_mark(settings.CLICK_STREAM_KEY)
        return apply_locked(events)


def _existing(events: Sequence[ClickEvent]) -> list[ClickEvent]:
    """The events whose reader, edition and paper still exist (a reader may erase themself before a drain)."""
    subscriber_ids = {e.subscriber_id for e in events}
    edition_ids = {e.edition_id for e in events}
    paper_ids = {e.paper_id for e in events}
    subscribers = set(Subscriber.objects.filter(pk__in=subscriber_ids).values_list("pk", flat=True))
    editions = set(Edition.objects.filter(pk__in=edition_ids).values_list("pk", flat=True))
    papers = set(Paper.objects.filter(pk__in=paper_ids).values_list("pk", flat=True))
    return [e for e in events if e.subscriber_id in subscribers and e.edition_id in editions and e.paper_id in papers]


def _reasons(events: Sequence[ClickEvent]) -> list[Click.FlagReason]:
    """The bot rule's verdict for each event, from the deliveries' send times (one query)."""
    sends: dict[tuple[int, int], datetime | None] = {
        (subscriber_id, edition_id): sent_at
        for subscriber_id, edition_id, sent_at in Delivery.objects.filter(
            subscriber_id__in={e.subscriber_id for e in events}, edition_id__in={e.edition_id for e in events}
        ).values_list("subscriber_id", "edition_id", "sent_at")
    }
    reasons = []
    for event in events:
        pair = (event.subscriber_id, event.edition_id)
        sent_at = sends.get(pair)
        reasons.append(
            flag_reason(
                head=event.head,
                agent=event.agent,
                clicked_at=event.at,
                sent_at=sent_at,
                sending=pair in sends and sent_at is None,
                window=settings.SCANNER_WINDOW,
            )
        )
    return reasons


def _merge(row: Click, event: ClickEvent, reason: str) -> None:
    row.first_at = min(row.first_at, event.at)
    row.last_at = max(row.last_at, event.at)
    row.count += 1
    if reason != Click.FlagReason.NONE:
        row.flagged_count += 1
        row.flag_reason = row.flag_reason or reason
    elif row.counted_at is None or event.at < row.counted_at:
        row.counted_at = event.at
        row.agent = event.agent


def apply_locked(events: Sequence[ClickEvent]) -> ApplyResult:
    """Merge ``events`` into Click rows and PaperClicks; the caller holds the stream mark's lock."""
    live = sorted(_existing(events), key=lambda e: e.at)
    dropped = len(events) - len(live)
    if dropped:
        logger.info("%d clicks dropped: their reader, edition or paper is gone", dropped)
    if not live:
        return ApplyResult(applied=0, dropped=dropped, new_readers=0)
    subscriber_ids = {e.subscriber_id for e in live}
    paper_ids = {e.paper_id for e in live}
    rows: dict[Key, Click] = {
        (c.subscriber_id, c.edition_id, c.paper_id, c.kind): c
        for c in Click.objects.filter(
            subscriber_id__in=subscriber_ids, edition_id__in={e.edition_id for e in live}, paper_id__in=paper_ids
        )
    }
    # Readers already counted for a paper (in any edition, by any link): they are not new readers again.
    counted_pairs = set(
        Click.objects.counted()
        .filter(subscriber_id__in=subscriber_ids, paper_id__in=paper_ids)
        .values_list("subscriber_id", "paper_id")
        .distinct()
    )
    created: dict[Key, Click] = {}
    changed: dict[Key, Click] = {}
    new_reader_days: dict[tuple[int, int], Date] = {}
    for event, reason in zip(live, _reasons(live), strict=True):
        row = rows.get(event.key)
        if row is None:
            row = rows[event.key] = created[event.key] = Click(
                subscriber_id=event.subscriber_id,
                edition_id=event.edition_id,
                paper_id=event.paper_id,
                kind=event.kind,
                first_at=event.at,
                last_at=event.at,
                agent=event.agent,
            )
        elif event.key not in created:
            changed[event.key] = row
        _merge(row, event, reason)
        pair = (event.subscriber_id, event.paper_id)
        if reason == Click.FlagReason.NONE and pair not in counted_pairs:
            counted_pairs.add(pair)
            new_reader_days[pair] = timezone.localdate(event.at)  # events are in time order: the first counted
    Click.objects.bulk_create(created.values())
    Click.objects.bulk_update(
        changed.values(), ["first_at", "last_at", "count", "flagged_count", "counted_at", "flag_reason", "agent"]
    )
    _add_readers(new_reader_days)
    return ApplyResult(applied=len(live), dropped=dropped, new_readers=len(new_reader_days))


def _add_readers(new_reader_days: dict[tuple[int, int], Date]) -> None:
    increments: dict[tuple[int, Date], int] = defaultdict(int)
    for (_subscriber_id, paper_id), day in new_reader_days.items():
        increments[(paper_id, day)] += 1
    if not increments:
        return
    existing = {
        (row.paper_id, row.day): row
        for row in PaperClicks.objects.filter(
            paper_id__in={p for p, _ in increments}, day__in={d for _, d in increments}
        )
    }
    new: list[PaperClicks] = []
    for (paper_id, day), n in increments.items():
        row = existing.get((paper_id, day))
        if row is None:
            new.append(PaperClicks(paper_id=paper_id, day=day, readers=n))
        else:
            row.readers += n
    PaperClicks.objects.bulk_create(new)
    PaperClicks.objects.bulk_update([row for key, row in existing.items() if key in increments], ["readers"])
