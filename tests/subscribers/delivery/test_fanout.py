"""Fan-out: rows created slice by slice in SQL, chunks as key ranges, a range's claim capped at a chunk's size."""

from __future__ import annotations

import pytest

from digest.models import Edition
from subscribers.delivery import fanout
from subscribers.delivery.chunk import chunk_send
from subscribers.delivery.fanout import Span, deliveries_fan_out, deliveries_spans
from subscribers.delivery.queries import subscribers_without_delivery
from subscribers.models import Delivery, Subscriber
from subscribers.tasks.sending import send_chunk
from tests.subscribers.delivery.helpers import NOON, fan_out, sent_to
from tests.subscribers.factories import make_subscriber


@pytest.mark.parametrize("insert", ["_insert_slices_postgresql", "_insert_slices_simple"])
def test_fan_out_goes_slice_by_slice_and_answers_with_ranges_of_the_rows_it_created(
    edition: Edition, settings, monkeypatch, request, insert: str
) -> None:
    if insert == "_insert_slices_postgresql":
        request.getfixturevalue("postgres")
    settings.NEWSLETTER_SEND_CHUNK_SIZE = 2
    monkeypatch.setattr(fanout, "FAN_OUT_SLICE", 3)  # 7 recipients: three statements, the last one short
    readers = [make_subscriber() for _ in range(8)]
    make_subscriber(status=Subscriber.Status.PENDING)
    fan_out(edition, readers[3:4])  # had it already: left alone, in no chunk
    recipients = subscribers_without_delivery(edition=edition)

    spans = list(getattr(fanout, insert)(edition_id=edition.pk, recipients=recipients, now=NOON))

    ids = [r.pk for r in readers if r.pk != readers[3].pk]
    assert sorted(Delivery.objects.filter(edition=edition).values_list("subscriber_id", flat=True)) == sorted(
        r.pk for r in readers
    )
    # Every new row in exactly one span, no span over a chunk's size, in order.
    covered = [pk for span in spans for pk in ids if span.first <= pk <= span.last]
    assert covered == ids
    assert all(span.size <= 2 for span in spans) and sum(span.size for span in spans) == 7


def test_fan_out_marks_the_edition_sending_only_when_it_created_rows(edition: Edition) -> None:
    assert deliveries_fan_out(edition=edition, recipients=Subscriber.objects.none(), now=NOON).chunks == []
    edition.refresh_from_db()
    assert edition.status == Edition.Status.APPROVED
    reader = make_subscriber()
    batch = deliveries_fan_out(edition=edition, recipients=Subscriber.objects.filter(pk=reader.pk), now=NOON)
    assert batch.chunks == [Span(reader.pk, reader.pk, 1)] and batch.size == 1
    edition.refresh_from_db()
    assert edition.status == Edition.Status.SENDING


def test_spans_cut_the_waiting_rows_by_subscriber_id(edition: Edition) -> None:
    ids = fan_out(edition, [make_subscriber() for _ in range(5)])
    Delivery.objects.filter(subscriber_id=ids[1]).update(status=Delivery.Status.SENT)
    waiting = Delivery.objects.filter(edition=edition, status=Delivery.Status.QUEUED)
    assert deliveries_spans(waiting, 2) == [Span(ids[0], ids[2], 2), Span(ids[3], ids[4], 2)]


def test_a_range_claims_at_most_a_chunk_and_leaves_the_rest_waiting(edition: Edition, settings) -> None:
    settings.NEWSLETTER_SEND_CHUNK_SIZE = 2
    readers = [make_subscriber() for _ in range(5)]
    ids = fan_out(edition, readers)
    # A range that holds more rows than a chunk (a later fan-out filled in between): one chunk's worth per run.
    assert chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1]).sent == 2
    assert chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1]).sent == 2
    assert chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1]).sent == 1
    assert sent_to() == {r.email: 1 for r in readers}


def test_a_chunk_queued_by_the_previous_release_as_a_list_of_ids_is_sent_as_its_range(edition: Edition) -> None:
    readers = [make_subscriber() for _ in range(3)]
    ids = fan_out(edition, readers)
    assert send_chunk.run(edition.pk, ids)["sent"] == 3
    assert send_chunk.run(edition.pk, [])["sent"] == 0
    assert sent_to() == {r.email: 1 for r in readers}
