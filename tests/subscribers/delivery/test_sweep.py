"""The sweep: dead claims settled from their journal, lost tasks enqueued again."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from digest.models import Edition
from subscribers.delivery.chunk import chunk_claim
from subscribers.delivery.fanout import Span
from subscribers.delivery.journal import SendJournal
from subscribers.delivery.sweep import deliveries_sweep
from subscribers.models import Delivery, Subscriber
from tests.subscribers.delivery.helpers import NOON, fan_out
from tests.subscribers.factories import make_subscriber

Status = Delivery.Status


def dead_claim(edition: Edition, subscribers: list[Subscriber], token: str, *, claimed_at: datetime) -> list[Delivery]:
    fan_out(edition, subscribers)
    rows, _ = chunk_claim(
        edition_id=edition.pk, first=subscribers[0].pk, last=subscribers[-1].pk, token=token, now=NOON
    )
    Delivery.objects.filter(claim_token=token).update(claimed_at=claimed_at)
    return rows


def test_sweep_settles_a_dead_claim_from_its_journal(edition: Edition, settings) -> None:
    settings.NEWSLETTER_STALL_SECONDS = 60
    subscribers = [make_subscriber() for _ in range(4)]
    token = "d" * 32
    rows = dead_claim(edition, subscribers, token, claimed_at=NOON - timedelta(minutes=5))
    journal = SendJournal(token)
    journal.mark(inflight=rows[0].pk)
    journal.mark(inflight=rows[1].pk, sent=(rows[0].pk, "ses-id-0"))
    # The worker died in the ESP call for rows[1], 5 minutes ago.
    journal.mark(inflight=rows[1].pk, at=time.time() - 300)

    result = deliveries_sweep(now=NOON)

    statuses = {row.pk: row.status for row in Delivery.objects.all()}
    assert statuses[rows[0].pk] == Status.SENT
    assert Delivery.objects.get(pk=rows[0].pk).esp_message_id == "ses-id-0"
    assert statuses[rows[1].pk] == Status.AMBIGUOUS
    assert statuses[rows[2].pk] == statuses[rows[3].pk] == Status.QUEUED
    assert (result.settled_sent, result.ambiguous) == (1, 1)
    # At-least-once by default: the ambiguous row and the two never tried are enqueued again.
    assert [batch.chunks for batch in result.batches] == [[Span(subscribers[1].pk, subscribers[-1].pk, 3)]]


def test_sweep_marks_everything_ambiguous_when_the_journal_is_gone(edition: Edition, settings) -> None:
    settings.NEWSLETTER_STALL_SECONDS = 60
    rows = dead_claim(edition, [make_subscriber() for _ in range(3)], "e" * 32, claimed_at=NOON - timedelta(minutes=5))
    deliveries_sweep(now=NOON)
    assert set(Delivery.objects.filter(pk__in=[r.pk for r in rows]).values_list("status", flat=True)) == {
        Status.AMBIGUOUS
    }


def test_sweep_leaves_a_live_claim_alone(edition: Edition, settings) -> None:
    settings.NEWSLETTER_STALL_SECONDS = 60
    token = "f" * 32
    rows = dead_claim(edition, [make_subscriber() for _ in range(2)], token, claimed_at=NOON - timedelta(minutes=5))
    SendJournal(token).mark(inflight=rows[0].pk)  # a heartbeat just now

    result = deliveries_sweep(now=NOON)

    assert set(Delivery.objects.values_list("status", flat=True)) == {Status.SENDING}
    assert result.batches == []


def test_sweep_reenqueues_rows_whose_task_was_lost(edition: Edition, settings) -> None:
    settings.NEWSLETTER_STALL_SECONDS = 60
    lost, fresh = make_subscriber(), make_subscriber()
    fan_out(edition, [lost], now=NOON - timedelta(minutes=10))
    fan_out(edition, [fresh], now=NOON)

    result = deliveries_sweep(now=NOON)

    assert [batch.chunks for batch in result.batches] == [[Span(lost.pk, lost.pk, 1)]]
    assert deliveries_sweep(now=NOON).batches == []  # not again until it stalls again


def test_sweep_drops_rows_whose_subscriber_was_deleted_during_the_fan_out(edition: Edition, settings) -> None:
    # The delivery table has no foreign-key constraints: a fan-out's INSERT ... SELECT can commit a row for a
    # subscriber deleted (with their rows) at the same moment. No chunk claims it; the sweep drops it and the
    # edition finishes.
    settings.NEWSLETTER_STALL_SECONDS = 60
    kept, gone = make_subscriber(), make_subscriber()
    fan_out(edition, [kept, gone], now=NOON - timedelta(minutes=10))
    gone_id = gone.pk
    gone.delete()
    assert not Delivery.objects.filter(subscriber_id=gone_id).exists()  # Django's CASCADE, as before
    Delivery.objects.create(edition=edition, subscriber_id=gone_id, enqueued_at=NOON - timedelta(minutes=10))

    claimed, skipped = chunk_claim(edition_id=edition.pk, first=kept.pk, last=gone_id, token="a" * 32, now=NOON)
    assert ([row.subscriber_id for row in claimed], skipped) == ([kept.pk], 0)
    Delivery.objects.filter(subscriber=kept).update(status=Status.SENT, sent_at=NOON)

    result = deliveries_sweep(now=NOON)

    assert (result.dropped, result.batches) == (1, [])
    assert list(Delivery.objects.values_list("subscriber_id", flat=True)) == [kept.pk]
    edition.refresh_from_db()
    assert edition.status == Edition.Status.SENT


def test_sweep_drops_rows_of_a_deleted_edition(edition: Edition, settings) -> None:
    settings.NEWSLETTER_STALL_SECONDS = 60
    subscriber = make_subscriber()
    edition_id = edition.pk
    edition.delete()
    Delivery.objects.create(edition_id=edition_id, subscriber=subscriber, enqueued_at=NOON - timedelta(minutes=10))

    result = deliveries_sweep(now=NOON)

    assert (result.dropped, result.requeued) == (1, 0)
    assert not Delivery.objects.exists()


def test_sweep_leaves_rows_that_are_not_lost_yet(edition: Edition, settings) -> None:
    # Orphans are looked for among lost rows only, so a big send in progress is not scanned at every sweep.
    settings.NEWSLETTER_STALL_SECONDS = 60
    subscriber = make_subscriber()
    Delivery.objects.create(edition=edition, subscriber_id=subscriber.pk + 1000, enqueued_at=NOON)

    assert deliveries_sweep(now=NOON).dropped == 0
    assert Delivery.objects.count() == 1
