"""Anymail tracking events -> deliveries and subscribers.

Anymail authenticates the webhook (HTTP basic auth with ``WEBHOOK_SECRET``) and normalises each ESP's payload into
an ``AnymailTrackingEvent``; this receiver only records it. It is quick (a few indexed queries) and idempotent: an
event is stored once by its id, so an ESP's retry or a replayed request changes nothing.

A delivery's status only moves forward (sent -> delivered -> opened -> clicked; bounced and complained trump
those): events arrive out of order and an "opened" must not undo a "bounced". A hard bounce or a complaint
suppresses the address; an ESP-side unsubscribe unsubscribes the subscriber.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from anymail.signals import AnymailTrackingEvent, EventType, tracking
from django.db import IntegrityError, transaction
from django.dispatch import receiver

from subscribers.models import Delivery, Suppression, TrackingEvent
from subscribers.services import subscriber_suppress, subscriber_unsubscribe, subscribers_with_email

logger = logging.getLogger(__name__)

Status = Delivery.Status
# Higher wins: a delivery moves forward through ``Delivery.ACCEPTED`` only. Rows not yet recorded as sent (a webhook
# racing the chunk's write) are left to the chunk.
RANK = {status: rank for rank, status in enumerate(Delivery.ACCEPTED, start=1)}
# Anymail's normalised event types (not our statuses) -> the status each one moves a delivery to.
EVENT_STATUS = {
    EventType.DELIVERED: Status.DELIVERED,
    EventType.OPENED: Status.OPENED,
    EventType.CLICKED: Status.CLICKED,
    EventType.BOUNCED: Status.BOUNCED,
    EventType.COMPLAINED: Status.COMPLAINED,
}


def _event_id(event: AnymailTrackingEvent, esp_name: str) -> str:
    if event.event_id:
        # One SES notification carries every recipient of a message under one id: the recipient tells them apart.
        return f"{esp_name}:{event.event_id}:{event.recipient or ''}"[:200]
    # Some ESPs send no id: the event's own facts identify a replay just as well.
    facts = [esp_name, event.event_type, event.message_id, event.recipient, str(event.timestamp)]
    return f"{esp_name}:sha256:{hashlib.sha256(json.dumps(facts).encode()).hexdigest()}"


def _payload(event: AnymailTrackingEvent) -> dict[str, Any]:
    return {
        "event_type": event.event_type,
        "timestamp": event.timestamp.isoformat() if event.timestamp else None,
        "description": event.description or "",
        "mta_response": event.mta_response or "",
        "reject_reason": event.reject_reason or "",
        "tags": list(event.tags or []),
        "metadata": dict(event.metadata or {}),
    }


def _soft_bounce(event: AnymailTrackingEvent) -> bool:
    """Anymail reports SES's transient bounces (mailbox full, greylisting) as "bounced" too; they are not final."""
    esp_event = event.esp_event if isinstance(event.esp_event, dict) else {}
    return event.event_type == EventType.BOUNCED and esp_event.get("bounce", {}).get("bounceType") == "Transient"


def tracking_event_record(*, event: AnymailTrackingEvent, esp_name: str) -> bool:
    """Apply one tracking event; False when it was seen before (nothing changes)."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                TrackingEvent.objects.create(
                    event_id=_event_id(event, esp_name),
                    event_type=str(event.event_type)[:20],
                    esp_message_id=str(event.message_id or "")[:200],
                    recipient=str(event.recipient or "")[:254],
                    payload=_payload(event),
                )
        except IntegrityError:
            logger.info("tracking event %s seen before: ignored", event.event_id)
            return False
        if _soft_bounce(event):
            return True
        status = EVENT_STATUS.get(event.event_type)
        if status is not None and event.message_id:
            lower = [s for s, rank in RANK.items() if rank < RANK[status]]
            Delivery.objects.filter(esp_message_id=str(event.message_id), status__in=lower).update(status=status)
        if event.recipient:
            if event.event_type == EventType.BOUNCED:
                subscriber_suppress(email=event.recipient, reason=Suppression.Reason.BOUNCED)
            elif event.event_type == EventType.COMPLAINED:
                subscriber_suppress(email=event.recipient, reason=Suppression.Reason.COMPLAINED)
            elif event.event_type == EventType.UNSUBSCRIBED:
                for subscriber in subscribers_with_email(event.recipient):
                    subscriber_unsubscribe(subscriber=subscriber, via="esp")
    return True


@receiver(tracking, dispatch_uid="subscribers.webhooks.tracking.on_tracking")
def on_tracking(sender: object, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any) -> None:
    tracking_event_record(event=event, esp_name=esp_name)
