from __future__ import annotations

from typing import Any, ClassVar

import pytest
import requests
from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused

from config.celery import app as celery_app
from subscribers.models import Subscriber, Suppression
from subscribers.tasks import transactional
from tests.subscribers.factories import make_subscriber

pytestmark = pytest.mark.django_db


class FlakyBackend(AnymailTestBackend):
    """Anymail's test backend that first raises the queued errors, one per send, then delivers."""

    errors: ClassVar[list[BaseException]] = []
    delivered: ClassVar[list[Any]] = []

    def send_messages(self, email_messages):
        if FlakyBackend.errors:
            raise FlakyBackend.errors.pop(0)
        FlakyBackend.delivered.extend(email_messages)
        return super().send_messages(email_messages)


@pytest.fixture
def flaky(settings, monkeypatch):
    # Eager retries run nested inside the failed attempt; with propagation on, each would surface as Retry.
    monkeypatch.setattr(celery_app.conf, "task_eager_propagates", False)
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    FlakyBackend.errors, FlakyBackend.delivered = [], []
    return FlakyBackend


def _timeout_error() -> AnymailAPIError:
    try:
        raise requests.ReadTimeout("read timed out")
    except requests.ReadTimeout as cause:
        try:
            raise AnymailAPIError("Error posting to ESP") from cause
        except AnymailAPIError as exc:
            return exc


def _http_error(status: int, reason: str) -> AnymailAPIError:
    response = requests.Response()
    response.status_code, response.reason = status, reason
    return AnymailAPIError(reason, status_code=status, response=response)


def _ses_throttled() -> AnymailAPIError:
    return AnymailAPIError(
        "Throttling",
        response={"Error": {"Code": "Throttling"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
    )


@pytest.mark.parametrize(
    "error",
    [
        _http_error(429, "Too Many Requests"),
        _http_error(503, "Service Unavailable"),
        _timeout_error(),
        _ses_throttled(),
        ConnectionResetError("reset by peer"),
    ],
    ids=["429", "503", "timeout", "ses-throttling", "connection-reset"],
)
def test_transient_errors_are_retried_until_sent(flaky, error):
    subscriber = make_subscriber(status=Subscriber.Status.PENDING)
    flaky.errors = [error, error]
    # Eagerly, each retry runs at once inside the previous attempt (the countdown is Celery's to honour).
    transactional.send_confirmation.apply(args=[subscriber.pk], throw=False)
    assert flaky.errors == []
    assert [m.to for m in flaky.delivered] == [[subscriber.email]]


@pytest.mark.parametrize("error", [_http_error(400, "Bad Request"), _http_error(401, "Unauthorized")])
def test_permanent_errors_are_not_retried(flaky, error):
    subscriber = make_subscriber(status=Subscriber.Status.PENDING)
    flaky.errors = [error]
    with pytest.raises(AnymailAPIError):
        transactional.send_confirmation.apply(args=[subscriber.pk], throw=True)
    assert flaky.errors == [] and flaky.delivered == []


@pytest.mark.parametrize(
    "error",
    [
        AnymailRecipientsRefused("invalid recipient"),
        # The same reading as an edition send: a 4xx about the address is the address's fault.
        AnymailAPIError(
            "Illegal address",
            response={"Error": {"Code": "BadRequestException"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        ),
    ],
    ids=["refused", "illegal-address"],
)
def test_refused_address_is_suppressed(flaky, error):
    subscriber = make_subscriber(status=Subscriber.Status.PENDING)
    flaky.errors = [error]
    transactional.send_confirmation.apply(args=[subscriber.pk], throw=True)
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.BOUNCED
    assert Suppression.objects.get().reason == "invalid"


def test_retries_stop_after_the_maximum(flaky, monkeypatch):
    monkeypatch.setattr(transactional.send_confirmation, "max_retries", 2)
    subscriber = make_subscriber(status=Subscriber.Status.PENDING)
    flaky.errors = [_http_error(503, "Service Unavailable") for _ in range(5)]
    result = transactional.send_confirmation.apply(args=[subscriber.pk], throw=False)
    assert result.failed() or result.state == "RETRY"
    assert len(flaky.errors) == 2  # the first try plus two retries consumed three errors
    assert flaky.delivered == []


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap():
    for retries in range(12):
        ceiling = min(transactional.BACKOFF_CAP_SECONDS, transactional.BACKOFF_BASE_SECONDS * 2**retries)
        samples = {transactional.backoff_seconds(retries) for _ in range(200)}
        assert all(0 <= s <= ceiling for s in samples)
        assert min(samples) < ceiling / 4  # full jitter: anywhere from zero, not only the upper half
        assert len(samples) > 1  # jittered, so a burst of failures does not retry in lock-step


def test_a_task_for_a_subscriber_who_moved_on_sends_nothing(flaky):
    confirmed = make_subscriber(status=Subscriber.Status.ACTIVE)
    transactional.send_confirmation.apply(args=[confirmed.pk], throw=True)
    transactional.send_welcome.apply(args=[10**9], throw=True)  # erased meanwhile
    assert flaky.delivered == []
