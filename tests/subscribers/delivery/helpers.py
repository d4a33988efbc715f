"""What the delivery tests share: an ESP backend that fails on cue, the errors SES and the network raise, shortcuts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.exceptions import AnymailAPIError
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from django.core import mail

from digest.models import Edition
from subscribers.delivery.fanout import deliveries_fan_out
from subscribers.models import Subscriber

TODAY = date(2025, 3, 14)
NOON = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


class ScriptedBackend(AnymailTestBackend):
    """Anymail's test backend, except that listed recipients get the scripted errors first, one per send."""

    script: dict[str, list[Exception]] = {}

    def post_to_esp(self, payload, message):
        errors = self.script.get(message.to[0])
        if errors:
            raise errors.pop(0)
        return super().post_to_esp(payload, message)


def ses_error(status: int, code: str, text: str = "error") -> AnymailAPIError:
    return AnymailAPIError(text, response={"ResponseMetadata": {"HTTPStatusCode": status}, "Error": {"Code": code}})


def read_timeout() -> AnymailAPIError:
    try:
        raise ReadTimeoutError(endpoint_url="http://ses")
    except ReadTimeoutError as cause:
        error = AnymailAPIError("read timeout")
        error.__cause__ = cause
        return error


def not_connected() -> AnymailAPIError:
    error = AnymailAPIError("connect failed")
    error.__cause__ = EndpointConnectionError(endpoint_url="http://ses")
    return error


def sent_to() -> Counter[str]:
    return Counter(message.to[0] for message in mail.outbox)


def fan_out(edition: Edition, subscribers: list[Subscriber], *, now: datetime = NOON) -> list[int]:
    ids = [s.pk for s in subscribers]
    deliveries_fan_out(edition=edition, recipients=Subscriber.objects.filter(pk__in=ids), now=now)
    return ids
