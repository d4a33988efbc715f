"""The one ESP error policy: what an error means (for editions and transactional mail alike) and the backoff."""

from __future__ import annotations

import smtplib

import pytest
import requests
from anymail.exceptions import AnymailAPIError, AnymailInvalidAddress, AnymailRecipientsRefused

from subscribers.delivery.esp_errors import (
    EDITION_BACKOFF_CAP_SECONDS,
    Outcome,
    backoff,
    classify,
    edition_backoff,
    transactional_retries,
)
from tests.subscribers.delivery.helpers import not_connected, read_timeout, ses_error


def http_error(status: int, reason: str) -> AnymailAPIError:
    response = requests.Response()
    response.status_code, response.reason = status, reason
    return AnymailAPIError(reason, status_code=status, response=response)


def raised_from(cause: BaseException, error: AnymailAPIError) -> AnymailAPIError:
    try:
        try:
            raise cause
        except BaseException as exc:
            raise error from exc
    except AnymailAPIError as exc:
        return exc


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (ses_error(429, "TooManyRequestsException"), Outcome.THROTTLED),
        (ses_error(400, "Throttling", "Maximum sending rate exceeded"), Outcome.THROTTLED),
        (http_error(429, "Too Many Requests"), Outcome.THROTTLED),
        (ses_error(500, "InternalFailure"), Outcome.RETRY),
        (http_error(503, "Service Unavailable"), Outcome.RETRY),
        (not_connected(), Outcome.NOT_SENT),
        (raised_from(requests.ConnectTimeout("connect timed out"), AnymailAPIError("post")), Outcome.NOT_SENT),
        (smtplib.SMTPConnectError(421, "try later"), Outcome.NOT_SENT),
        (read_timeout(), Outcome.IN_DOUBT),
        (raised_from(requests.ReadTimeout("read timed out"), AnymailAPIError("post")), Outcome.IN_DOUBT),
        (AnymailAPIError("no answer and no cause"), Outcome.IN_DOUBT),
        (ConnectionResetError("reset by peer"), Outcome.IN_DOUBT),
        (smtplib.SMTPServerDisconnected("gone"), Outcome.IN_DOUBT),
        (ses_error(400, "BadRequestException", "Illegal address"), Outcome.INVALID),
        (AnymailRecipientsRefused("refused"), Outcome.INVALID),
        (AnymailInvalidAddress("not an address"), Outcome.INVALID),
        (ses_error(400, "MessageRejected", "Email content rejected"), Outcome.REJECTED),
        (http_error(401, "Unauthorized"), Outcome.REJECTED),
        (ValueError("a bug"), Outcome.REJECTED),
    ],
    ids=lambda value: value.value if isinstance(value, Outcome) else type(value).__name__,
)
def test_every_error_has_one_meaning(error: BaseException, outcome: Outcome) -> None:
    assert classify(error) is outcome


def test_in_doubt_is_retried_for_transactional_mail_only() -> None:
    # The edition side turns IN_DOUBT into an ambiguous delivery (see test_chunk); transactional mail retries it.
    assert [outcome for outcome in Outcome if transactional_retries(outcome)] == [
        Outcome.NOT_SENT,
        Outcome.THROTTLED,
        Outcome.RETRY,
        Outcome.IN_DOUBT,
    ]


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    for retries in range(12):
        ceiling = min(100.0, 0.5 * 2**retries)
        samples = [backoff(retries, base=0.5, cap=100.0) for _ in range(300)]
        assert all(0 <= value <= ceiling for value in samples)
        # Full jitter: the whole range is used, down to near zero, not only its upper half.
        assert min(samples) < ceiling / 4 and max(samples) > ceiling * 3 / 4


def test_edition_backoff_uses_the_setting_and_the_cap(settings) -> None:
    settings.NEWSLETTER_SEND_RETRY_BACKOFF = 0.5
    samples = [edition_backoff(3) for _ in range(200)]
    assert all(0 <= value <= 4.0 for value in samples)
    assert len({round(value, 3) for value in samples}) > 100  # jittered, not lock-step
    assert max(edition_backoff(30) for _ in range(50)) <= EDITION_BACKOFF_CAP_SECONDS
