"""Celery tasks for transactional mail: confirmation, welcome, already-subscribed notice.

Each task takes a subscriber id, calls ``subscribers.transactional.transactional_send`` and owns its retry policy,
read from the one ESP error policy (``subscribers.delivery.esp_errors``): errors that were not accepted (HTTP 429
and 5xx, throttling, could not connect) and those in doubt (timeouts, dropped connections: a confirmation sent
twice is harmless) are retried with exponential backoff and full jitter; an address the ESP refuses is
suppressed; anything else is permanent and is raised, so Celery logs it.
"""

from __future__ import annotations

import logging

from celery import Task, shared_task

from subscribers import services
from subscribers.delivery.esp_errors import Outcome, backoff, classify, transactional_retries
from subscribers.models import Suppression
from subscribers.transactional import transactional_send

logger = logging.getLogger(__name__)

MAX_RETRIES = 8
BACKOFF_BASE_SECONDS = 10
BACKOFF_CAP_SECONDS = 3600


def backoff_seconds(retries: int) -> float:
    return backoff(retries, base=BACKOFF_BASE_SECONDS, cap=BACKOFF_CAP_SECONDS)


def _send(task: Task, subscriber_id: int, kind: str) -> str | None:
    try:
        return transactional_send(subscriber_id=subscriber_id, kind=kind)
    except Exception as exc:
        outcome = classify(exc)
        if outcome is Outcome.INVALID:
            logger.warning("ESP refused the address of subscriber %s: suppressing it", subscriber_id)
            services.suppress_subscriber_id(subscriber_id=subscriber_id, reason=Suppression.Reason.INVALID)
            return None
        if not transactional_retries(outcome):
            raise
        if task.max_retries is not None and task.request.retries >= task.max_retries:
            logger.error("giving up on %s for subscriber %s after %s tries", kind, subscriber_id, task.request.retries)
            raise
        countdown = backoff_seconds(task.request.retries)
        logger.warning(
            "ESP error (%s) sending %s to %s, retry in %.0fs: %s", outcome.value, kind, subscriber_id, countdown, exc
        )
        raise task.retry(exc=exc, countdown=countdown) from exc


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def send_confirmation(self: Task, subscriber_id: int) -> str | None:
    return _send(self, subscriber_id, "confirmation")


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def send_welcome(self: Task, subscriber_id: int) -> str | None:
    return _send(self, subscriber_id, "welcome")


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def send_already_subscribed(self: Task, subscriber_id: int) -> str | None:
    return _send(self, subscriber_id, "already-subscribed")
