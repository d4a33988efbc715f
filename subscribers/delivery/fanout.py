"""Fan-out: a Delivery row for every recipient, created before any task exists, and the chunks to enqueue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from digest.edition_states import edition_mark_sending
from digest.models import Edition
from digest.rendering import edition_snapshot
from subscribers.models import Delivery

# bulk_create makes a list of whatever it is given: batches keep a million-row fan-out to 2,000 objects at once.
FAN_OUT_BATCH = 2000


@dataclass(frozen=True)
class Batch:
    """Chunks of subscriber ids of one edition, each to be sent by one chunk task."""

    edition_id: int
    chunks: list[list[int]]
    force: bool = False  # an operator's send despite the complaint-rate brake

    @property
    def size(self) -> int:
        return sum(len(chunk) for chunk in self.chunks)


def chunked(ids: Sequence[int], size: int | None = None) -> list[list[int]]:
    size = size or settings.NEWSLETTER_SEND_CHUNK_SIZE
    return [list(ids[start : start + size]) for start in range(0, len(ids), size)]


def deliveries_fan_out(*, edition: Edition, subscriber_ids: Sequence[int], now: datetime) -> Batch:
    """Create the rows (existing ones are left alone) and mark the edition as sending; the chunks to enqueue."""
    if not subscriber_ids:
        return Batch(edition_id=edition.pk, chunks=[])
    for batch in chunked(subscriber_ids, FAN_OUT_BATCH):
        Delivery.objects.bulk_create(
            [Delivery(edition_id=edition.pk, subscriber_id=pk, enqueued_at=now) for pk in batch],
            ignore_conflicts=True,
        )
    # The archive shows what the first recipients got, however the papers are edited afterwards.
    edition_snapshot(edition)
    edition_mark_sending(edition_id=edition.pk, now=now)
    return Batch(edition_id=edition.pk, chunks=chunked(subscriber_ids))
