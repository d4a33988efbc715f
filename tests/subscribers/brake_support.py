"""Making many sent deliveries at once for the brake's tests: bulk inserts, not one factory call per row."""

from __future__ import annotations

import itertools
from datetime import datetime

from django.utils import timezone

from digest.models import Edition
from subscribers.models import Delivery, Subscriber

_batch = itertools.count(1)


def make_sends(
    edition: Edition, n: int, *, sent_at: datetime | None = None, status: str = Delivery.Status.SENT
) -> list[Delivery]:
    """``n`` active subscribers of ``edition``'s frequency, each with a delivery of it the ESP accepted at ``sent_at``.

    Each delivery's ESP message id is ``msg-<batch>-<i>``, for webhooks that name it.
    """
    batch = next(_batch)
    now = timezone.now()
    subscribers = Subscriber.objects.bulk_create(
        Subscriber(
            email=f"sent{batch}-{i}@example.org",
            status=Subscriber.Status.ACTIVE,
            status_changed_at=now,
            confirmed_at=now,
            frequency=edition.frequency,
        )
        for i in range(n)
    )
    return Delivery.objects.bulk_create(
        Delivery(
            edition=edition,
            subscriber=subscriber,
            status=status,
            esp_message_id=f"msg-{batch}-{i}",
            sent_at=sent_at or now,
            attempts=1,
        )
        for i, subscriber in enumerate(subscribers)
    )


def mark(deliveries: list[Delivery], status: str) -> None:
    """What the tracking webhook does to a delivery a complaint or a bounce is about."""
    Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(status=status)
