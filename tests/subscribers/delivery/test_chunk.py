"""One chunk in-process, against Anymail's test backend (and a scripted failing variant of it)."""

from __future__ import annotations

import logging
from collections import Counter

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from digest.models import Edition
from subscribers.delivery.body import clear_body_cache
from subscribers.delivery.chunk import chunk_claim, chunk_send
from subscribers.models import Delivery, EditionLink, Subscriber
from subscribers.reports import delivery_problems
from tests.subscribers.delivery.helpers import NOON, fan_out, not_connected, read_timeout, sent_to, ses_error
from tests.subscribers.factories import make_subscriber

Status = Delivery.Status


def test_chunk_sends_each_active_subscriber_once_and_records_the_esp_id(edition: Edition) -> None:
    subscribers = [make_subscriber() for _ in range(5)]
    ids = fan_out(edition, subscribers)

    result = chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1])

    assert (result.sent, result.retry) == (5, False)
    assert sent_to() == Counter({s.email: 1 for s in subscribers})
    rows = Delivery.objects.filter(edition=edition)
    assert {row.status for row in rows} == {Status.SENT}
    assert all(row.esp_message_id != "" and row.attempts == 1 and row.sent_at for row in rows)
    edition.refresh_from_db()
    assert edition.status == Edition.Status.SENT and edition.recipient_count == 5
    assert edition.rendered_html  # the snapshot the archive shows

    again = chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1])
    assert again.sent == 0 and len(mail.outbox) == 5


def test_a_subscriber_who_leaves_between_fan_out_and_send_is_skipped(edition: Edition) -> None:
    stays, leaves = make_subscriber(), make_subscriber()
    ids = fan_out(edition, [stays, leaves])
    Subscriber.objects.filter(pk=leaves.pk).update(status=Subscriber.Status.UNSUBSCRIBED)

    result = chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1])

    assert (result.sent, result.skipped) == (1, 1)
    assert sent_to() == Counter({stays.email: 1})
    assert Delivery.objects.get(subscriber=leaves).status == Status.SKIPPED


def test_rows_claimed_by_one_run_are_invisible_to_another(edition: Edition) -> None:
    subscribers = [make_subscriber() for _ in range(3)]
    ids = fan_out(edition, subscribers)
    first, _ = chunk_claim(edition_id=edition.pk, first=ids[0], last=ids[-1], token="a" * 32, now=NOON)
    second, _ = chunk_claim(edition_id=edition.pk, first=ids[0], last=ids[-1], token="b" * 32, now=NOON)
    assert len(first) == 3 and second == []


def test_a_held_edition_sends_nothing(edition: Edition) -> None:
    ids = fan_out(edition, [make_subscriber()])
    Edition.objects.filter(pk=edition.pk).update(status=Edition.Status.HELD)
    assert chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1]).sent == 0
    assert mail.outbox == []


def test_throttling_stops_the_chunk_and_a_retry_sends_only_the_rest(edition: Edition, scripted) -> None:
    subscribers = [make_subscriber() for _ in range(4)]
    ids = fan_out(edition, subscribers)
    scripted[subscribers[2].email] = [ses_error(429, "TooManyRequestsException"), ses_error(500, "InternalFailure")]

    first = chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1])
    # The throttled row goes back untried, like the one after it.
    assert (first.sent, first.retry, first.released) == (2, True, 2)
    assert Delivery.objects.get(subscriber=subscribers[2]).status == Status.QUEUED
    second = chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1])
    assert (second.sent, second.retry) == (0, True)
    third = chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1])
    assert (third.sent, third.retry) == (2, False)

    assert sent_to() == Counter({s.email: 1 for s in subscribers})
    # The 429 was about the sender's rate, not an attempt on the reader; the 500 and the send were.
    assert Delivery.objects.get(subscriber=subscribers[2]).attempts == 2


def test_could_not_connect_is_retried_not_ambiguous(edition: Edition, scripted) -> None:
    subscriber = make_subscriber()
    ids = fan_out(edition, [subscriber])
    scripted[subscriber.email] = [not_connected()]
    assert chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1]).retry
    assert Delivery.objects.get(subscriber=subscriber).status == Status.QUEUED


def test_an_invalid_address_fails_and_is_suppressed_the_others_still_go(edition: Edition, scripted) -> None:
    bad, good = make_subscriber(email="bad@example.org"), make_subscriber()
    ids = fan_out(edition, [bad, good])
    scripted[bad.email] = [ses_error(400, "BadRequestException", "Illegal address")]

    result = chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1])

    assert (result.sent, result.failed, result.retry) == (1, 1, False)
    assert Delivery.objects.get(subscriber=bad).status == Status.FAILED
    bad.refresh_from_db()
    assert bad.status == Subscriber.Status.BOUNCED
    assert sent_to() == Counter({good.email: 1})


def test_send_log_lines_carry_the_edition_and_subscriber_ids(edition: Edition, scripted, caplog) -> None:
    bad, good = make_subscriber(email="bad@example.org"), make_subscriber()
    ids = fan_out(edition, [bad, good])
    scripted[bad.email] = [ses_error(400, "BadRequestException", "Illegal address")]

    with caplog.at_level(logging.DEBUG, logger="subscribers.delivery.chunk"):
        chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1])

    by_message = {record.getMessage().split(" ")[0]: record for record in caplog.records}
    refused, sent = by_message["ESP"], by_message["sent"]
    assert (refused.levelname, refused.edition_id, refused.subscriber_id) == ("WARNING", edition.pk, bad.pk)
    assert refused.outcome == "invalid" and refused.delivery_id == Delivery.objects.get(subscriber=bad).pk
    assert (sent.levelname, sent.edition_id, sent.subscriber_id) == ("DEBUG", edition.pk, good.pk)
    assert sent.esp_message_id == Delivery.objects.get(subscriber=good).esp_message_id != ""
    summary = by_message["chunk"]
    assert (summary.levelname, summary.edition_id, summary.subscribers) == ("INFO", edition.pk, 2)
    assert summary.getMessage().startswith(f"chunk of edition {edition.pk}: 1 sent, 1 failed")


def test_a_content_rejection_fails_without_suppressing(edition: Edition, scripted) -> None:
    subscriber = make_subscriber()
    ids = fan_out(edition, [subscriber])
    scripted[subscriber.email] = [ses_error(400, "MessageRejected", "Email content rejected")]
    assert chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1]).failed == 1
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.ACTIVE


@pytest.mark.parametrize("resend", [True, False])
def test_a_timeout_in_flight_is_ambiguous_and_the_setting_decides_a_resend(
    edition: Edition, scripted, settings, resend: bool
) -> None:
    settings.NEWSLETTER_RESEND_AMBIGUOUS = resend
    subscriber = make_subscriber()
    ids = fan_out(edition, [subscriber])
    scripted[subscriber.email] = [read_timeout()]

    first = chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1])
    assert (first.ambiguous, first.retry) == (1, True)
    row = Delivery.objects.get(subscriber=subscriber)
    assert row.status == Status.AMBIGUOUS and row.ambiguous_at is not None

    chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1])
    row.refresh_from_db()
    assert row.status == (Status.SENT if resend else Status.AMBIGUOUS)
    assert row.ambiguous_at is not None  # still counted after the re-send
    assert len(mail.outbox) == (1 if resend else 0)
    # Left in doubt, the delivery was neither accepted nor refused: the edition is not sent, and shows it.
    edition.refresh_from_db()
    assert edition.status == (Edition.Status.SENT if resend else Edition.Status.SENDING)
    assert [d.pk for d in delivery_problems(edition_id=edition.pk)] == ([] if resend else [row.pk])


# --- Cost per chunk ---------------------------------------------------------------------------------------------


def queries_for_chunk(edition: Edition, size: int) -> int:
    ids = fan_out(edition, [make_subscriber(keywords=["paper"]) for _ in range(size)])
    clear_body_cache()
    EditionLink.objects.all().delete()  # both runs render the body as the first chunk of a send does
    with CaptureQueriesContext(connection) as captured:
        assert chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1]).sent == size
    return len(captured)


def test_queries_per_chunk_do_not_grow_with_chunk_size(edition: Edition, postgres) -> None:
    small = queries_for_chunk(edition, 5)
    large = queries_for_chunk(edition, 60)
    assert small == large, (small, large)
    # 12, 2 for personalising (the representation's version and the readers' earlier deliveries; no
    # representation here; tests/subscribers/test_personal_send.py counts a chunk with profiles) and 2 for the
    # complaint-rate brake's checkpoint (subscribers/brake.py), 3 for the edition's link table written with the body
    # (subscribers/clicks/emailed.py: read, insert, read back; a later body of the edition reads it only).
    assert large <= 16 + 3
