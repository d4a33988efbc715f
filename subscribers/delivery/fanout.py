"""Fan-out: a Delivery row for every recipient, created before any task exists, and the chunks to enqueue.

Nothing here holds the recipients in Python. On PostgreSQL each slice of recipients (keyset pagination over
subscriber ids) becomes its rows in one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``, which answers with the
chunks it made. A chunk is a key range, ``Span(first, last)`` of subscriber ids within one edition: the chunk task
claims that range's unsent rows (``subscribers.delivery.chunk``), so a million recipients are a few thousand small
tuples, not a million ids in memory and in the broker. SQLite keeps a simple path: the slice's ids in Python, then
``bulk_create``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import QuerySet

from digest.edition_states import edition_mark_sending
from digest.models import Edition
from digest.rendering import edition_snapshot
from subscribers.models import Delivery, Subscriber

# Recipients per INSERT statement: each statement's work (and the SQLite path's list of ids) stays bounded, and a
# million recipients are a hundred statements.
FAN_OUT_SLICE = 10_000


@dataclass(frozen=True)
class Span:
    """A chunk: the unsent rows of one edition whose subscriber id is between ``first`` and ``last`` (inclusive);
    ``size`` is how many there were when the span was made."""

    first: int
    last: int
    size: int


@dataclass(frozen=True)
class Batch:
    """The chunks of one edition, each to be sent by one chunk task."""

    edition_id: int
    chunks: list[Span] = field(default_factory=list)
    force: bool = False  # an operator's send despite the complaint-rate brake

    @property
    def size(self) -> int:
        return sum(span.size for span in self.chunks)


def chunk_size() -> int:
    return settings.NEWSLETTER_SEND_CHUNK_SIZE


def spans_of(ids: list[int], size: int | None = None) -> list[Span]:
    """Sorted ids cut into spans of ``size``."""
    size = size or chunk_size()
    return [Span(part[0], part[-1], len(part)) for part in (ids[i : i + size] for i in range(0, len(ids), size))]


def deliveries_spans(rows: QuerySet[Delivery], size: int | None = None) -> list[Span]:
    """``rows`` (of one edition) cut into spans of ``size`` in subscriber order, by one query that returns only the
    spans' edges."""
    try:
        inner, params = rows.order_by().values("subscriber_id").query.sql_with_params()
    except EmptyResultSet:  # a queryset that can match nothing (``pk__in=[]``) has no SQL
        return []
    sql = (
        "SELECT min(subscriber_id), max(subscriber_id), count(*) FROM ("  # noqa: S608
        "SELECT subscriber_id, (row_number() OVER (ORDER BY subscriber_id) - 1) / %s AS k "
        f"FROM ({inner}) AS r) AS numbered GROUP BY k ORDER BY k"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [size or chunk_size(), *params])
        return [Span(first, last, count) for first, last, count in cursor.fetchall()]


def _first(span: Span) -> int:
    return span.first


def _row_values(*, edition_id: int, now: datetime) -> tuple[list[str], list[Any]]:
    """Every column of a new row but the subscriber's, with its value as the database takes it: the model's
    defaults, so a field added later is filled here without anyone remembering this statement."""
    template = Delivery(edition_id=edition_id, enqueued_at=now, created_at=now, updated_at=now)
    columns: list[str] = []
    values: list[Any] = []
    for model_field in Delivery._meta.concrete_fields:
        if model_field.primary_key or model_field.name == "subscriber":
            continue
        columns.append(connection.ops.quote_name(str(model_field.column)))
        values.append(model_field.get_db_prep_save(getattr(template, model_field.attname), connection))
    return columns, values


def _insert_slices_postgresql(*, edition_id: int, recipients: QuerySet[Subscriber], now: datetime) -> Iterator[Span]:
    columns, values = _row_values(edition_id=edition_id, now=now)
    table = connection.ops.quote_name(Delivery._meta.db_table)
    subscriber_column = connection.ops.quote_name(Delivery._meta.get_field("subscriber").column)
    placeholders = ", ".join(["%s"] * len(values))
    after = 0
    while True:
        try:
            picked, picked_params = (
                recipients.filter(pk__gt=after).order_by("pk").values_list("pk")[:FAN_OUT_SLICE].query.sql_with_params()
            )
        except EmptyResultSet:  # a queryset that can match nothing (``pk__in=[]``) has no SQL
            return
        # One statement per slice: pick the next recipients by id, insert their rows (a row that exists already,
        # from a concurrent tick or an earlier send, is left alone), and answer with the chunks of what it inserted
        # plus one marker row (first is NULL) holding the slice's last id for the next slice.
        sql = (
            f"WITH picked(id) AS ({picked}), "  # noqa: S608
            f"added AS (INSERT INTO {table} ({', '.join(columns)}, {subscriber_column}) "
            f"SELECT {placeholders}, id FROM picked ORDER BY id ON CONFLICT DO NOTHING RETURNING {subscriber_column}), "
            f"numbered AS (SELECT {subscriber_column} AS id, (row_number() OVER (ORDER BY {subscriber_column}) - 1) "
            "/ %s AS k FROM added) "
            "SELECT min(id), max(id), count(*) FROM numbered GROUP BY k "
            "UNION ALL SELECT NULL, max(id), count(*) FROM picked"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*picked_params, *values, chunk_size()])
            rows = cursor.fetchall()
        spans = sorted((Span(first, last, count) for first, last, count in rows if first is not None), key=_first)
        [(_, last_picked, picked_count)] = [row for row in rows if row[0] is None]
        yield from spans
        if picked_count < FAN_OUT_SLICE:
            return
        after = last_picked


def _insert_slices_simple(*, edition_id: int, recipients: QuerySet[Subscriber], now: datetime) -> Iterator[Span]:
    after = 0
    while True:
        ids = list(recipients.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:FAN_OUT_SLICE])
        if not ids:
            return
        had = set(
            Delivery.objects.filter(
                edition_id=edition_id, subscriber_id__gte=ids[0], subscriber_id__lte=ids[-1]
            ).values_list("subscriber_id", flat=True)
        )
        new = [pk for pk in ids if pk not in had]
        Delivery.objects.bulk_create(
            [Delivery(edition_id=edition_id, subscriber_id=pk, enqueued_at=now) for pk in new], ignore_conflicts=True
        )
        yield from spans_of(new)
        if len(ids) < FAN_OUT_SLICE:
            return
        after = ids[-1]


def deliveries_fan_out(*, edition: Edition, recipients: QuerySet[Subscriber], now: datetime) -> Batch:
    """Create a row for each of ``recipients`` (existing ones are left alone) and mark the edition as sending; the
    chunks to enqueue, as key ranges over the rows this call created.

    ``recipients`` need not leave out those who have a row already: each slice does, against that slice's ids only.
    (A ``NOT EXISTS`` over the whole edition, planned when the edition had no rows yet, became a merge join sorting
    every row made so far on each slice: a million-row fan-out took two minutes instead of seconds.)"""
    insert = _insert_slices_postgresql if connection.vendor == "postgresql" else _insert_slices_simple
    spans = list(insert(edition_id=edition.pk, recipients=recipients, now=now))
    if not spans:
        return Batch(edition_id=edition.pk)
    # The archive shows what the first recipients got, however the papers are edited afterwards.
    edition_snapshot(edition)
    edition_mark_sending(edition_id=edition.pk, now=now)
    return Batch(edition_id=edition.pk, chunks=spans)
