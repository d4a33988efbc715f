"""What an ESP error means, and how long to wait before trying again: one policy for every email the service sends.

Edition sends (``subscribers.delivery.chunk``) and transactional mail (``subscribers.tasks.transactional``) read an
error the same way (``classify``) and back off the same way (``backoff``). They differ in one deliberate place,
what to do with a request that may or may not have been accepted (``Outcome.IN_DOUBT``):

- an edition: the delivery becomes ``ambiguous`` and the send journal settles it; ``NEWSLETTER_RESEND_AMBIGUOUS``
  decides whether it is sent again. A blind retry would send a newsletter twice to someone.
- transactional mail: a confirmation sent twice is harmless, one never sent loses a subscriber, so it is retried
  like any transient error (``transactional_retries``).
"""

from __future__ import annotations

import random
import smtplib
from collections.abc import Iterator
from enum import StrEnum

from anymail.exceptions import AnymailAPIError, AnymailInvalidAddress, AnymailRecipientsRefused
from django.conf import settings

# A chunk the ESP keeps throttling waits at most this long between tries.
EDITION_BACKOFF_CAP_SECONDS = 600


class Outcome(StrEnum):
    # Nothing reached the ESP (could not connect, name lookup failed): says nothing about the reader, so it is not an
    # attempt on them; the whole chunk waits and tries again, however long the ESP is away.
    NOT_SENT = "not_sent"
    # The ESP answered "slow down" (429, a throttling code): about the sender's rate, not the reader, so not an attempt
    # on them either; the chunk backs off and tries again.
    THROTTLED = "throttled"
    RETRY = "retry"  # the ESP failed for the moment (5xx): an attempt, worth trying later
    IN_DOUBT = "in_doubt"  # the request left and no answer came back: the ESP may have accepted it
    REJECTED = "rejected"  # refused for good (content, policy, credentials); the address itself may be fine
    INVALID = "invalid"  # refused for good because of the address: suppress it


_THROTTLING_CODES = {"Throttling", "ThrottlingException", "TooManyRequestsException", "ServiceUnavailable"}
# Raised before a single byte reached the ESP (botocore, requests/urllib3, the socket layer): safe to retry.
_NOT_CONNECTED = {
    "ConnectTimeoutError",
    "ConnectTimeout",
    "EndpointConnectionError",
    "NewConnectionError",
    "ConnectionRefusedError",
    "NameResolutionError",
    "SMTPConnectError",
}
# The network failed somewhere after connecting (a read timeout, a dropped connection): the answer is unknown.
_NETWORK = {
    "Timeout",
    "ConnectionError",
    "ReadTimeoutError",
    "ConnectionClosedError",
}


def _http_status(exc: AnymailAPIError) -> int | None:
    if getattr(exc, "status_code", None) is not None:
        return int(exc.status_code)
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore's parsed ClientError response (Amazon SES)
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if status else None
    return None


def _error_code(exc: AnymailAPIError) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_network_error(exc: BaseException) -> bool:
    if isinstance(exc, TimeoutError | ConnectionError | smtplib.SMTPServerDisconnected):
        return True
    return any(cls.__name__ in _NETWORK for cls in type(exc).__mro__)


def classify(exc: BaseException) -> Outcome:
    """What ``exc``, raised while handing a message to the ESP, says about that message."""
    if isinstance(exc, AnymailRecipientsRefused | AnymailInvalidAddress):
        return Outcome.INVALID
    if isinstance(exc, AnymailAPIError) and (status := _http_status(exc)) is not None:
        if status == 429 or _error_code(exc) in _THROTTLING_CODES:
            return Outcome.THROTTLED
        if status >= 500:
            return Outcome.RETRY
        # A 4xx naming the address (SES: "Illegal address", "Missing final '@domain'") is about the recipient.
        text = str(exc).lower()
        return Outcome.INVALID if "address" in text or "@domain" in text else Outcome.REJECTED
    causes = list(_causes(exc))
    if any(type(cause).__name__ in _NOT_CONNECTED for cause in causes):
        return Outcome.NOT_SENT
    # An API error with no HTTP answer is a request that left and got none back, whatever its cause says.
    if isinstance(exc, AnymailAPIError) or any(_is_network_error(cause) for cause in causes):
        return Outcome.IN_DOUBT
    return Outcome.REJECTED


def transactional_retries(outcome: Outcome) -> bool:
    """Transactional mail is tried again when it was not accepted, and when nobody knows (see the module)."""
    return outcome in (Outcome.NOT_SENT, Outcome.THROTTLED, Outcome.RETRY, Outcome.IN_DOUBT)


def backoff(retries: int, *, base: float, cap: float) -> float:
    """Exponential backoff with full jitter: anywhere from 0 to ``min(cap, base * 2**retries)`` seconds, so the
    chunks or emails throttled together do not come back together."""
    return random.uniform(0, min(cap, base * 2**retries))


def edition_backoff(retries: int) -> float:
    """How long a throttled or failing chunk waits before its ``retries``-th retry."""
    return backoff(retries, base=settings.NEWSLETTER_SEND_RETRY_BACKOFF, cap=EDITION_BACKOFF_CAP_SECONDS)
