"""A reader's clicks, for their data export (what the landing page says is recorded, and nothing more)."""

from __future__ import annotations

from typing import Any

from subscribers.models import Click


def clicks_export(*, subscriber_id: int) -> list[dict[str, Any]]:
    rows = (
        Click.objects.filter(subscriber_id=subscriber_id)
        .order_by("first_at", "pk")
        .values(
            "edition__date", "paper__title", "paper__arxiv_id", "kind", "first_at", "last_at", "count", "counted_at",
            "flag_reason",
        )
    )  # fmt: skip
    return [
        {
            "edition": row["edition__date"].isoformat(),
            "paper": row["paper__title"],
            "arxiv_id": row["paper__arxiv_id"],
            "link": row["kind"],
            "first_at": row["first_at"].isoformat(),
            "last_at": row["last_at"].isoformat(),
            "requests": row["count"],
            "counted": row["counted_at"] is not None,
            "flagged_as": row["flag_reason"],
        }
        for row in rows
    ]
