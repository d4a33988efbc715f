"""Operations tasks: the heartbeat that shows beat -> broker -> worker is flowing."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

WORKER_HEARTBEAT_KEY = "ops:worker:last-heartbeat"


@shared_task(ignore_result=True, acks_late=False)
def heartbeat() -> None:
    # Routed to the transactional queue (config/routing.py): a stale value means confirmations are not flowing.
    # acks_late off: a lost heartbeat is harmless and must never be redelivered in a pile after an outage.
    cache.set(WORKER_HEARTBEAT_KEY, timezone.now().timestamp(), timeout=None)
