"""What staff do to many subscribers at once, built on the sign-up flow's own services."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from digest.models import Edition
from subscribers.delivery.operator import edition_send_prepare
from subscribers.models import Subscriber
from subscribers.services import CONFIRMATION_INTERVAL, subscriber_unsubscribe
from subscribers.tasks.sending import enqueue_batches
from subscribers.tasks.transactional import send_confirmation


def enqueue_confirmations(subscriber_ids: list[int]) -> None:
    """Queue one confirmation email per pending subscriber, through the sign-up form's own task."""
    # One producer (one broker connection) for the whole batch instead of one checkout per message.
    with send_confirmation.app.producer_or_acquire() as producer:
        for subscriber_id in subscriber_ids:
            send_confirmation.apply_async((subscriber_id,), producer=producer)


def subscribers_unsubscribe(*, queryset: QuerySet[Subscriber], via: str = "admin") -> list[Subscriber]:
    """Unsubscribe each active or pending subscriber of ``queryset``; returns those that changed."""
    changed = []
    for subscriber in queryset.filter(status__in=Subscriber.ON_THE_LIST):
        if subscriber_unsubscribe(subscriber=subscriber, via=via):
            changed.append(subscriber)
    return changed


def subscribers_resend_confirmation(*, queryset: QuerySet[Subscriber]) -> list[Subscriber]:
    """Send the confirmation email again to the pending subscribers of ``queryset``.

    The sign-up form's hourly allowance applies here too (claimed in the row), so a double click or two staff
    members at once cannot mail anyone twice within the hour. Returns the subscribers a confirmation was queued for.
    """
    now = timezone.now()
    due = Q(confirmation_sent_at__isnull=True) | Q(confirmation_sent_at__lte=now - CONFIRMATION_INTERVAL)
    claimed = []
    with transaction.atomic():
        for subscriber in queryset.filter(status=Subscriber.Status.PENDING).filter(due):
            if Subscriber.objects.filter(due, pk=subscriber.pk, status=Subscriber.Status.PENDING).update(
                confirmation_sent_at=now
            ):
                claimed.append(subscriber)
        ids = [subscriber.pk for subscriber in claimed]
        if ids:
            transaction.on_commit(lambda: enqueue_confirmations(ids))
    return claimed


def edition_send_queue(*, edition: Edition) -> int:
    """Start sending an approved edition now, through the workers: returns the number of chunk tasks queued.

    The admin request only creates the Delivery rows and queues the chunks (on commit); the workers send. Running
    it again queues only what is still unsent, since the rows say who has had it.
    """
    with transaction.atomic():
        batch = edition_send_prepare(edition=edition, now=timezone.now())
        return enqueue_batches([batch])
