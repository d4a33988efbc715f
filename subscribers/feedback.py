"""Readers' "More like this" / "Less like this": recording, undoing and listing votes, and the profile after each.

A vote is one row per reader and paper (a unique constraint), so a second vote replaces the first, a double click
or a replayed POST leaves one row, and deleting the reader deletes their votes. Each change recomputes the reader's
profile (a few vector sums, see ``subscribers.profiles``), so the next email already follows it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Q

from digest.models import Paper
from subscribers.models import Subscriber, Vote
from subscribers.profiles import profiles_rebuild

logger = logging.getLogger(__name__)

# Feedback links stop working after this long; a reader who wants to vote on an old paper can still do it from
# a newer email. Rotating the reader's token key (erasure) kills them at once.
LINK_MAX_AGE = timedelta(days=180)


class Choice(StrEnum):
    MORE = "more"
    LESS = "less"

    @property
    def value_int(self) -> int:
        return Vote.Value.MORE if self is Choice.MORE else Vote.Value.LESS

    @classmethod
    def of(cls, value: int) -> Choice:
        return cls.MORE if value > 0 else cls.LESS


class VoteOutcome(StrEnum):
    CREATED = "created"
    CHANGED = "changed"  # the reader had voted the other way: replaced
    UNCHANGED = "unchanged"  # the same vote again (a double click, a replayed POST)


def vote_record(*, subscriber: Subscriber, paper: Paper, choice: Choice) -> VoteOutcome:
    """Store the reader's vote on ``paper`` (replacing any earlier one) and recompute their profile."""
    value = choice.value_int
    outcome = VoteOutcome.UNCHANGED
    for _attempt in range(2):
        try:
            with transaction.atomic():
                existing = Vote.objects.select_for_update().filter(subscriber=subscriber, paper=paper).first()
                if existing is None:
                    Vote.objects.create(subscriber=subscriber, paper=paper, value=value)
                    outcome = VoteOutcome.CREATED
                elif existing.value != value:
                    existing.value = value
                    existing.save(update_fields=["value", "updated_at"])
                    outcome = VoteOutcome.CHANGED
            break
        except IntegrityError:
            # The same vote arrived twice at once and the other request created the row: read it on the next turn.
            continue
    if outcome is not VoteOutcome.UNCHANGED:
        profiles_rebuild(subscriber_ids=[subscriber.pk])
        logger.info("subscriber %s voted %s on paper %s (%s)", subscriber.pk, choice.value, paper.pk, outcome.value)
    return outcome


def vote_undo(*, subscriber: Subscriber, paper_id: int) -> bool:
    """Forget the reader's vote on a paper; True when there was one."""
    deleted, _ = Vote.objects.filter(subscriber=subscriber, paper_id=paper_id).delete()
    if deleted:
        profiles_rebuild(subscriber_ids=[subscriber.pk])
    return bool(deleted)


@dataclass(frozen=True)
class VoteView:
    paper_id: int
    title: str
    arxiv_id: str | None
    choice: Choice
    voted_at: datetime


def votes_list(*, subscriber: Subscriber) -> list[VoteView]:
    """The reader's votes, newest first, for the preferences page (one query)."""
    rows = (
        Vote.objects.filter(subscriber=subscriber)
        .order_by("-updated_at", "-pk")
        .values_list("paper_id", "paper__title", "paper__arxiv_id", "value", "updated_at")
    )
    return [
        VoteView(paper_id=pk, title=" ".join(title.split()), arxiv_id=arxiv, choice=Choice.of(value), voted_at=at)
        for pk, title, arxiv, value, at in rows
    ]


def votes_export(*, subscriber: Subscriber) -> list[dict[str, Any]]:
    """The reader's votes as JSON-ready data for their data export."""

    def stamp(value: datetime | date) -> str:
        return value.isoformat()

    return [
        {
            "paper": vote.title,
            "arxiv_id": vote.arxiv_id,
            "choice": vote.choice.value,
            "voted_at": stamp(vote.voted_at),
        }
        for vote in votes_list(subscriber=subscriber)
    ]


def votes_per_paper(*, paper_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(more, less) votes of each of these papers, all readers together: one query, for the edition page."""
    rows = (
        Vote.objects.filter(paper_id__in=paper_ids)
        .values("paper_id")
        .annotate(more=Count("pk", filter=Q(value=Vote.Value.MORE)), less=Count("pk", filter=Q(value=Vote.Value.LESS)))
        .values_list("paper_id", "more", "less")
        .order_by()
    )
    return {paper_id: (more, less) for paper_id, more, less in rows}
