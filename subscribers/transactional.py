"""Transactional mail: the confirmation, welcome and already-subscribed emails, one subscriber at a time.

The Celery tasks in ``subscribers.tasks.transactional`` call ``transactional_send`` and own the retry policy.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from subscribers import links
from subscribers.emails import build_message, render_email
from subscribers.models import Subscriber
from subscribers.services import is_blocked

logger = logging.getLogger(__name__)

# Which status each kind needs at send time: a queued email whose reason has gone (confirmed meanwhile,
# unsubscribed, erased) is dropped rather than sent late.
TRANSACTIONAL_KINDS = {
    "confirmation": Subscriber.Status.PENDING,
    "welcome": Subscriber.Status.ACTIVE,
    "already-subscribed": Subscriber.Status.ACTIVE,
}


def transactional_send(*, subscriber_id: int, kind: str, connection: Any = None) -> str | None:
    """Render and send one transactional email; the ESP message id, or None when there is nothing to send.

    ESP errors propagate: the Celery task decides what is worth retrying.
    """
    required_status = TRANSACTIONAL_KINDS[kind]
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None or subscriber.status != required_status:
        logger.info("not sending %s to subscriber %s: gone or no longer %s", kind, subscriber_id, required_status)
        return None
    if is_blocked(subscriber.email):
        logger.info("not sending %s to subscriber %s: suppressed", kind, subscriber_id)
        return None
    context = {
        "subscriber": subscriber,
        "confirm_url": links.confirm_url(subscriber),
        "preferences_url": links.preferences_url(subscriber),
        "unsubscribe_url": links.unsubscribe_url(subscriber),
        "archive_url": f"{settings.SITE_URL}/editions/",
        "confirm_days": settings.SUBSCRIBE_CONFIRM_MAX_AGE_DAYS,
    }
    # Only subscribed mail carries List-Unsubscribe: a confirmation is a one-off the person asked for.
    headers = links.list_unsubscribe_headers(subscriber) if kind != "confirmation" else {}
    message = build_message(
        rendered=render_email(kind, context),
        to=subscriber.email,
        headers=headers,
        tags=["transactional", kind],
        metadata={"subscriber_id": subscriber.pk, "kind": kind},
        connection=connection,
    )
    message.send()
    status = message.anymail_status
    return status.message_id if status else None
