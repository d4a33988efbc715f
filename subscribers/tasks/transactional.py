"""Celery tasks for transactional mail: confirmation, welcome, already-subscribed notice.

Each task takes a subscriber id, calls ``services.transactional_send`` and owns its retry policy: transient ESP
failures (HTTP 429 and 5xx, throttling, timeouts, dropped connections) are retried with exponential backoff and
full jitter; anything else is permanent and is logged, and an address the ESP refuses is suppressed.
"""

from __future__ import annotations

import logging
import random
import smtplib

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from celery import Task, shared_task

from subscribers import services

logger = logging.getLogger(__name__)

MAX_RETRIES = 8
BACKOFF_BASE_SECONDS = 10
BACKOFF_CAP_SECONDS = 3600
_THROTTLING_CODES = {"Throttling", "ThrottlingException", "TooManyRequestsException", "ServiceUnavailable"}


def backoff_seconds(retries: int) -> float:
    """Full-jitter exponential backoff: spreads a burst of retries instead of hitting the ESP in lock-step."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**retries)
    return random.uniform(ceiling / 2, ceiling)


def _status_of(exc: AnymailAPIError) -> int | None:
    if exc.status_code is not None:
        return int(exc.status_code)
    # boto's ClientError (Amazon SES) keeps the HTTP status in its parsed response, which Anymail passes on.
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if status else None
    return None


def is_transient(exc: BaseException) -> bool:
    """Worth trying again later: the ESP is overloaded, throttling us, or unreachable for now."""
    if isinstance(exc, AnymailAPIError):
        status = _status_of(exc)
        if status is not None:
            if status == 429 or status >= 500:
                return True
            response = getattr(exc, "response", None)
            code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
            return code in _THROTTLING_CODES
        # No HTTP answer at all: the cause says whether it was the network (requests and botocore both raise
        # ConnectionError/Timeout subclasses, which are OSError or carry "Timeout"/"Connection" in their names).
        cause = exc.__cause__ or exc
        return (cause is not exc and is_transient(cause)) or _looks_like_network_error(exc)
    return _looks_like_network_error(exc)


def _looks_like_network_error(exc: BaseException) -> bool:
    if isinstance(exc, (TimeoutError, ConnectionError, smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError)):
        return True
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(
        names
        & {
            "Timeout",
            "ConnectionError",
            "ConnectTimeoutError",
            "ReadTimeoutError",
            "EndpointConnectionError",
            "ConnectionClosedError",
        }
    )


def _send(task: Task, subscriber_id: int, kind: str) -> str | None:
    try:
        return services.transactional_send(subscriber_id=subscriber_id, kind=kind)
    except AnymailRecipientsRefused:
        logger.warning("ESP refused the address of subscriber %s: suppressing it", subscriber_id)
        services.suppress_subscriber_id(subscriber_id=subscriber_id, reason="invalid")
        return None
    except Exception as exc:
        if not is_transient(exc):
            raise
        if task.request.retries >= task.max_retries:
            logger.error("giving up on %s for subscriber %s after %s tries", kind, subscriber_id, task.request.retries)
            raise
        countdown = backoff_seconds(task.request.retries)
        logger.warning("transient ESP error sending %s to %s, retry in %.0fs: %s", kind, subscriber_id, countdown, exc)
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
