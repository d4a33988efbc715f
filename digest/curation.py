"""What a curator does to papers and to an edition's entries, as plain functions the admin (and anything else) calls.

An edition's status moves (approve, hold, reopen, cancel) live with the rest of its state machine in
``digest.edition_states``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from digest.models import Edition, EditionEntry, Paper


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
