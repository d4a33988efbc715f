"""The questions every part of sending asks of the database, each written once."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet

from digest.models import Edition
from subscribers.models import Delivery, Subscriber


def active_subscribers(*, frequency: str) -> QuerySet[Subscriber]:
    """Everyone who gets editions of ``frequency``."""
    return Subscriber.objects.filter(status=Subscriber.Status.ACTIVE, frequency=frequency)


def subscribers_without_delivery(*, edition: Edition) -> QuerySet[Subscriber]:
    """Active subscribers of the edition's frequency who have no delivery of it yet: whom sending it would add."""
    had_it = Delivery.objects.filter(edition=edition, subscriber=OuterRef("pk"))
    return active_subscribers(frequency=edition.frequency).exclude(Exists(had_it))


def claimable_statuses() -> tuple[str, ...]:
    """What a chunk claims: queued rows, and ambiguous ones too when ``NEWSLETTER_RESEND_AMBIGUOUS`` re-sends them."""
    if settings.NEWSLETTER_RESEND_AMBIGUOUS:
        return (*Delivery.CLAIMABLE, *Delivery.RESENDABLE)
    return Delivery.CLAIMABLE


def unfinished_statuses() -> tuple[str, ...]:
    """Still to be sent or being sent: an edition with a delivery in one of these is not finished."""
    return (*claimable_statuses(), *Delivery.IN_FLIGHT)
