"""What a curator does to papers and editions, as plain functions the admin (and anything else) calls.

State changes are conditional UPDATEs: two curators clicking at once, or a curator racing the send job, cannot both
win, and the loser gets an ``EditionStateError`` saying what the edition is now.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from digest.models import Edition, EditionEntry, Paper

# Which states each curator move starts from. Sending and sent belong to the send job; cancelled is final.
APPROVABLE = (Edition.Status.DRAFT, Edition.Status.HELD)
# Holding a sending edition pauses it: the sender claims no further chunk of a held edition.
HOLDABLE = (Edition.Status.DRAFT, Edition.Status.APPROVED, Edition.Status.SENDING)
CANCELLABLE = (Edition.Status.DRAFT, Edition.Status.APPROVED, Edition.Status.HELD)
REOPENABLE = (Edition.Status.APPROVED, Edition.Status.HELD)
EDITABLE = (Edition.Status.DRAFT, Edition.Status.HELD)


class EditionStateError(Exception):
    """The edition is not in a state this move starts from (perhaps it changed under the curator)."""


def papers_set_flags(*, queryset: QuerySet[Paper], **flags: Any) -> list[Paper]:
    """Set curator flags (``pinned``, ``hidden``) on the papers of ``queryset``; returns the papers that changed.

    Papers already in that state are left alone, so the admin log records only real changes.
    """
    allowed = {"pinned", "hidden"}
    if not flags or set(flags) - allowed:
        raise ValueError(f"only {sorted(allowed)} can be set in bulk, got {sorted(flags)}")
    changing = queryset.exclude(**flags)
    changed = list(changing.only("pk", "title"))
    Paper.objects.filter(pk__in=[p.pk for p in changed]).update(**flags, updated_at=timezone.now())
    return changed


def _transition(*, edition: Edition, allowed: tuple[str, ...], verb: str, **fields: Any) -> Edition:
    updated = Edition.objects.filter(pk=edition.pk, status__in=allowed).update(**fields)
    edition.refresh_from_db()
    if not updated:
        raise EditionStateError(f"{edition} is {edition.get_status_display().lower()}: it cannot be {verb}.")
    return edition


def edition_approve(*, edition: Edition, user: AbstractBaseUser) -> Edition:
    """Sign off this exact list; an empty edition is not approvable (it would send an empty email)."""
    if not edition.entries.exists():
        raise EditionStateError(f"{edition} has no entries: build it or add papers before approving.")
    return _transition(
        edition=edition,
        allowed=APPROVABLE,
        verb="approved",
        status=Edition.Status.APPROVED,
        approved_at=timezone.now(),
        approved_by=user,
    )


def edition_hold(*, edition: Edition) -> Edition:
    """Keep the edition from going out until a curator approves it again."""
    return _transition(edition=edition, allowed=HOLDABLE, verb="held", status=Edition.Status.HELD)


def edition_cancel(*, edition: Edition) -> Edition:
    return _transition(edition=edition, allowed=CANCELLABLE, verb="cancelled", status=Edition.Status.CANCELLED)


def edition_reopen(*, edition: Edition) -> Edition:
    """Back to draft, withdrawing an approval, so the list can be rebuilt or edited."""
    return _transition(
        edition=edition,
        allowed=REOPENABLE,
        verb="reopened",
        status=Edition.Status.DRAFT,
        approved_at=None,
        approved_by=None,
    )


def edition_renumber(*, edition: Edition, placed: Mapping[int, int] | None = None) -> None:
    """Make positions 1..n after a curator moved, added or removed entries.

    ``placed`` maps entry ids to the position the curator asked for (a moved or added entry): those land exactly
    there, in the final list, and the other entries fill the remaining places in their current order. Without it,
    positions are simply closed up.
    """
    placed = dict(placed or {})
    entries = list(edition.entries.only("pk", "position").order_by("position", "pk"))
    final: list[EditionEntry | None] = [None] * len(entries)
    free = list(range(len(entries)))
    for entry in sorted((e for e in entries if e.pk in placed), key=lambda e: (placed[e.pk], e.pk)):
        wanted = min(max(placed[entry.pk], 1), len(entries)) - 1
        # Two entries asking for one place: the second takes the next free place after it (or before, at the end).
        slot = next((i for i in free if i >= wanted), free[-1])
        free.remove(slot)
        final[slot] = entry
    rest = iter(e for e in entries if e.pk not in placed)
    changed = []
    for index in range(len(final)):
        entry = final[index] or next(rest)
        if entry.position != index + 1:
            entry.position = index + 1
            changed.append(entry)
    if changed:
        EditionEntry.objects.bulk_update(changed, ["position"], batch_size=500)
