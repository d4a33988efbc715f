"""A chunk meeting faults outside it: an ESP it cannot reach, a database that drops its connection mid-chunk."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from celery.canvas import Signature
from django.core import mail
from django.db import InterfaceError, OperationalError, connection
from kombu.exceptions import OperationalError as KombuOperationalError

from digest.models import Edition
from subscribers.delivery import dbretry
from subscribers.delivery.chunk import chunk_send
from subscribers.delivery.dbretry import with_db_retry
from subscribers.delivery.fanout import Span
from subscribers.delivery.record import MAX_ATTEMPTS
from subscribers.delivery.sweep import deliveries_sweep, settle_dead_claims
from subscribers.models import Delivery, SendingBrake
from subscribers.tasks.sending import send_chunk
from tests.subscribers.delivery.helpers import NOON, fan_out, not_connected, sent_to, ses_error
from tests.subscribers.factories import make_subscriber

Status = Delivery.Status


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses every connection: bound (so nobody else takes it) and never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_an_esp_that_cannot_be_reached_never_costs_a_reader_an_attempt(
    edition: Edition, settings, closed_port: int
) -> None:
    # The real Amazon SES backend, pointed at a port that refuses: botocore's EndpointConnectionError, as in an outage.
    settings.EMAIL_BACKEND = "anymail.backends.amazon_ses.EmailBackend"
    settings.ANYMAIL = {
        "AMAZON_SES_CLIENT_PARAMS": {
            "endpoint_url": f"http://127.0.0.1:{closed_port}",
            "region_name": "us-east-1",
            "aws_access_key_id": "test",
            "aws_secret_access_key": "test",
            "config": {"connect_timeout": 1, "read_timeout": 1, "retries": {"total_max_attempts": 1}},
        }
    }
    subscribers = [make_subscriber() for _ in range(3)]
    ids = fan_out(edition, subscribers)

    for _ in range(3 * MAX_ATTEMPTS):
        result = chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1])
        assert (result.retry, result.sent, result.failed, result.ambiguous, result.released) == (True, 0, 0, 0, 3)

    rows = list(Delivery.objects.filter(edition=edition))
    assert {row.status for row in rows} == {Status.QUEUED}
    assert {row.attempts for row in rows} == {0}
    assert "connect" in rows[0].last_error.lower()
    edition.refresh_from_db()
    assert edition.status != Edition.Status.SENT

    # The ESP is back: everyone gets it once, on their first attempt, and only now is the edition sent.
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    assert chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1]).sent == 3
    assert {(row.status, row.attempts) for row in Delivery.objects.filter(edition=edition)} == {(Status.SENT, 1)}
    assert sent_to() == Counter({s.email: 1 for s in subscribers})
    edition.refresh_from_db()
    assert edition.status == Edition.Status.SENT and edition.recipient_count == 3


def test_an_esp_that_keeps_throttling_never_costs_a_reader_an_attempt(edition: Edition, scripted) -> None:
    # 429s say the sender goes too fast, nothing about the reader: however many, nobody is given up on.
    subscriber = make_subscriber()
    ids = fan_out(edition, [subscriber])
    throttled = ses_error(429, "TooManyRequestsException", "Maximum sending rate exceeded")
    scripted[subscriber.email] = [throttled] * (3 * MAX_ATTEMPTS)

    for _ in range(3 * MAX_ATTEMPTS):
        result = chunk_send(edition_id=edition.pk, first=min(ids), last=max(ids))
        assert (result.retry, result.sent, result.failed, result.released) == (True, 0, 0, 1)
    row = Delivery.objects.get(edition=edition)
    assert (row.status, row.attempts) == (Status.QUEUED, 0)
    assert "Maximum sending rate exceeded" in row.last_error

    assert chunk_send(edition_id=edition.pk, first=min(ids), last=max(ids)).sent == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SENT, 1)
    edition.refresh_from_db()
    assert edition.status == Edition.Status.SENT


def test_an_esp_failing_for_one_reader_gives_them_up_after_max_attempts(edition: Edition, scripted) -> None:
    # A 5xx is an attempt (the ESP took the request and failed on it); MAX_ATTEMPTS of them end the delivery.
    subscriber = make_subscriber()
    ids = fan_out(edition, [subscriber])
    scripted[subscriber.email] = [ses_error(500, "InternalFailure")] * MAX_ATTEMPTS

    for _ in range(MAX_ATTEMPTS):
        chunk_send(edition_id=edition.pk, first=min(ids), last=max(ids))
    row = Delivery.objects.get(edition=edition)
    assert (row.status, row.attempts) == (Status.FAILED, MAX_ATTEMPTS)


class FailRecord:
    """An execute wrapper (Django's hook at the edge of the driver) that breaks the chunk's final write: it closes
    the real connection under Django, as a database restart does, and raises what the driver then raises."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.failed = 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        is_record = sql.lstrip().upper().startswith("UPDATE") and "sent_at" in sql
        if is_record and self.failed < self.times:
            self.failed += 1
            context["connection"].connection.close()
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)


@pytest.mark.django_db(transaction=True)
def test_a_record_write_that_fails_once_is_retried_on_a_new_connection(edition: Edition) -> None:
    subscribers = [make_subscriber() for _ in range(3)]
    ids = fan_out(edition, subscribers)
    broken = FailRecord(times=1)

    with connection.execute_wrapper(broken):
        result = chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1])

    assert broken.failed == 1
    assert (result.sent, result.ambiguous, result.retry) == (3, 0, False)
    rows = Delivery.objects.filter(edition=edition)
    assert {(row.status, row.attempts) for row in rows} == {(Status.SENT, 1)}
    assert all(row.esp_message_id for row in rows)
    assert sent_to() == Counter({s.email: 1 for s in subscribers})
    edition.refresh_from_db()
    assert edition.status == Edition.Status.SENT


@pytest.mark.django_db(transaction=True)
def test_a_record_write_that_never_succeeds_leaves_the_sweep_every_send_nothing_ambiguous(
    edition: Edition, settings, monkeypatch
) -> None:
    monkeypatch.setattr(dbretry, "DB_RETRY_SECONDS", 0.5)
    settings.NEWSLETTER_STALL_SECONDS = 0  # the sweep may settle the claim at once
    subscribers = [make_subscriber() for _ in range(3)]
    ids = fan_out(edition, subscribers)
    broken = FailRecord(times=1000)

    with connection.execute_wrapper(broken), pytest.raises(OperationalError):
        chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1])
    assert broken.failed >= 2  # retried before giving up
    assert {row.status for row in Delivery.objects.filter(edition=edition)} == {Status.SENDING}

    claimed_at = max(Delivery.objects.values_list("claimed_at", flat=True))
    settled = settle_dead_claims(now=claimed_at, claimed_before=claimed_at + timedelta(seconds=1))

    # The last message of the chunk is in the journal too: all three are sent, none is ambiguous or sent again.
    assert (settled.settled_sent, settled.ambiguous) == (3, 0)
    rows = Delivery.objects.filter(edition=edition)
    assert {(row.status, row.attempts) for row in rows} == {(Status.SENT, 1)}
    assert len(mail.outbox) == 3


class FailBrakeCheck:
    """Breaks the connection at the chunk's first database step after reading the edition, the brake's check."""

    def __init__(self) -> None:
        self.failed = 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if SendingBrake._meta.db_table in sql and not self.failed:
            self.failed += 1
            context["connection"].connection.close()
            raise OperationalError("terminating connection due to administrator command")
        return execute(sql, params, many, context)


@pytest.mark.django_db(transaction=True)
def test_a_brake_check_that_meets_a_restart_is_retried_and_the_chunk_sends(edition: Edition) -> None:
    # Were it not retried, the task would fail and its rows wait for the sweep's stall time (minutes).
    subscribers = [make_subscriber() for _ in range(2)]
    ids = fan_out(edition, subscribers)
    broken = FailBrakeCheck()

    with connection.execute_wrapper(broken):
        result = chunk_send(edition_id=edition.pk, first=min(ids), last=max(ids))

    assert broken.failed == 1
    assert (result.sent, result.retry) == (2, False)
    assert sent_to() == Counter({s.email: 1 for s in subscribers})


def test_the_retry_backs_off_and_gives_up_at_its_deadline() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    def down() -> None:
        raise InterfaceError("connection already closed")

    with pytest.raises(InterfaceError):
        with_db_retry(down, what="a test", deadline_seconds=10, sleep=sleep, clock=lambda: now[0])
    assert waits == [0.2, 0.4, 0.8, 1.6, 3.2]  # doubling, and never past the deadline
    assert sum(waits) <= 10


def test_a_retry_the_broker_cannot_take_leaves_the_rows_to_the_next_sweep_at_once(
    edition: Edition, scripted, monkeypatch
) -> None:
    subscribers = [make_subscriber() for _ in range(2)]
    ids = fan_out(edition, subscribers)
    scripted[subscribers[0].email] = [not_connected()]

    def broker_down(*args: object, **kwargs: object) -> None:
        # What kombu raises when the broker refuses the connection; Celery turns it into Reject(requeue=False).
        raise KombuOperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(Signature, "apply_async", broker_down)
    # As a worker runs it (not eagerly, not called directly), so the retry really goes to the broker.
    send_chunk.push_request(id="chunk-task", args=[edition.pk, ids[0], ids[-1]], kwargs={}, called_directly=False)
    try:
        result = send_chunk.run(edition.pk, ids[0], ids[-1])
    finally:
        send_chunk.pop_request()

    assert result["retry"] is True
    rows = Delivery.objects.filter(edition=edition)
    assert {(row.status, row.enqueued_at) for row in rows} == {(Status.QUEUED, None)}
    # The next sweep (not one a stall time later) hands the whole chunk back.
    swept = deliveries_sweep(now=NOON)
    assert swept.requeued == 2 and [batch.chunks for batch in swept.batches] == [[Span(ids[0], ids[-1], 2)]]
