"""Delivery and subscriber figures kept by the database, so no page counts millions of rows to show them.

Triggers on the delivery and subscriber tables add rows to ``DeliveryCount`` / ``SubscriberCount`` /
``SubscriberDayCount`` in the writer's own transaction: a figure is the sum of its key's rows, exact as soon as the
writer commits, whoever wrote (the sender, the sweep, a webhook, a bulk ``update()``, raw SQL, a cascade delete).

- PostgreSQL: one statement-level trigger per INSERT / UPDATE / DELETE reads the statement's transition tables and
  appends one row per key whose count changed, with the difference: a million-row fan-out adds one row, a chunk's
  claim two. Appending, rather than updating one counter row per key, means two workers never wait on each
  other's counter (nor deadlock over two of them). ``fold_counts`` (beat, every minute) merges each key's rows.
- SQLite (the embedded default, one writer at a time): row-level triggers update one row per key in place.

A later migration that rebuilds a table on SQLite drops its triggers with it; ``ensure_count_triggers`` runs after
every ``migrate`` and puts them back, recounting from the rows.
"""

# ruff: noqa: S608 -- every statement here is built from the table and column names of COUNTED, none from input.
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date as Date
from typing import Any

from django.db import connection as default_connection
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import IntegerField, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from subscribers.models import Delivery, DeliveryCount, Subscriber, SubscriberCount, SubscriberDayCount

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Key:
    """One key a row is counted under: the value of each key column as SQL over the row named ``{row}``."""

    postgresql: tuple[str, ...]
    sqlite: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Counted:
    """Rows of ``table`` counted per ``keys`` into ``counts`` (columns ``keys`` and ``n``).

    By default a row is counted once, under its own values of the key columns. ``per_row`` counts it under several
    keys computed from ``reads`` (its columns), one per entry; a key with a NULL value is not counted.
    """

    table: str
    counts: str
    keys: tuple[str, ...]
    per_row: tuple[Key, ...] = ()
    reads: tuple[str, ...] = ()

    @property
    def columns(self) -> str:
        return ", ".join(self.keys)

    @property
    def read_columns(self) -> tuple[str, ...]:
        return self.reads or self.keys

    @property
    def triggers(self) -> tuple[str, ...]:
        return tuple(f"{self.counts}_{event}" for event in ("insert", "update", "delete", "truncate"))

    def key_values(self, vendor: str, row: str) -> list[tuple[str, ...]]:
        """The SQL of each key ``row`` is counted under."""
        if not self.per_row:
            return [tuple(f"{row}.{key}" for key in self.keys)]
        return [
            tuple(value.format(row=row) for value in (key.postgresql if vendor == "postgresql" else key.sqlite))
            for key in self.per_row
        ]

    def keyed_rows(self, vendor: str, rows: str) -> str:
        """A SELECT of the key columns, one row per key each row of ``rows`` (the table, or a trigger's transition
        table) is counted under."""
        selects = []
        for values in self.key_values(vendor, rows):
            named = ", ".join(f"{value} AS {key}" for value, key in zip(values, self.keys, strict=True))
            present = " AND ".join(f"{value} IS NOT NULL" for value in values)
            selects.append(f"SELECT {named} FROM {rows} WHERE {present}")
        return " UNION ALL ".join(selects)


# The events the dashboard charts per day: the Subscriber timestamp each one sets.
DAY_EVENTS = ("created_at", "confirmed_at", "unsubscribed_at", "bounced_at", "complained_at")
# Days are UTC days, the project's TIME_ZONE (settings.py), so each equals Django's TruncDate of the timestamp.
# SQLite stores datetimes as UTC text, whose date() is the day.
_DAY_KEYS = tuple(
    Key(
        postgresql=(f"'{event}'", f"({{row}}.{event} AT TIME ZONE 'UTC')::date"),
        sqlite=(f"'{event}'", f"date({{row}}.{event})"),
    )
    for event in DAY_EVENTS
)

DELIVERIES = Counted(table=Delivery._meta.db_table, counts=DeliveryCount._meta.db_table, keys=("edition_id", "status"))
SUBSCRIBERS = Counted(table=Subscriber._meta.db_table, counts=SubscriberCount._meta.db_table, keys=("status",))
SUBSCRIBER_DAYS = Counted(
    table=Subscriber._meta.db_table,
    counts=SubscriberDayCount._meta.db_table,
    keys=("event", "day"),
    per_row=_DAY_KEYS,
    reads=DAY_EVENTS,
)
COUNTED = (DELIVERIES, SUBSCRIBERS, SUBSCRIBER_DAYS)


def _postgresql_sql(spec: Counted) -> list[str]:
    keys, counts, table = spec.columns, spec.counts, spec.table
    new_rows, old_rows = spec.keyed_rows("postgresql", "new_rows"), spec.keyed_rows("postgresql", "old_rows")
    # PL/pgSQL plans a statement when it first runs, so each branch names only the transition tables its own
    # trigger has.
    function = f"""
        CREATE OR REPLACE FUNCTION {counts}_add() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                INSERT INTO {counts} ({keys}, n) SELECT {keys}, count(*) FROM ({new_rows}) AS k GROUP BY {keys};
            ELSIF TG_OP = 'DELETE' THEN
                INSERT INTO {counts} ({keys}, n) SELECT {keys}, -count(*) FROM ({old_rows}) AS k GROUP BY {keys};
            ELSIF TG_OP = 'UPDATE' THEN
                INSERT INTO {counts} ({keys}, n)
                SELECT {keys}, sum(d) FROM (
                    SELECT {keys}, 1 AS d FROM ({new_rows}) AS k UNION ALL
                    SELECT {keys}, -1 AS d FROM ({old_rows}) AS k
                ) AS changed GROUP BY {keys} HAVING sum(d) <> 0;
            ELSE
                DELETE FROM {counts};
            END IF;
            RETURN NULL;
        END $$"""
    insert, update, delete, truncate = spec.triggers
    each = f"FOR EACH STATEMENT EXECUTE FUNCTION {counts}_add()"
    return [
        function,
        f"CREATE OR REPLACE TRIGGER {insert} AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows {each}",
        f"CREATE OR REPLACE TRIGGER {update} AFTER UPDATE ON {table} "
        f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows {each}",
        f"CREATE OR REPLACE TRIGGER {delete} AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows {each}",
        f"CREATE OR REPLACE TRIGGER {truncate} AFTER TRUNCATE ON {table} {each}",
    ]


def _sqlite_add(spec: Counted, row: str, delta: int) -> str:
    """Add ``delta`` to each key of ``row`` (NEW or OLD): make the key's row if there is none, then update it."""
    statements = []
    for values in spec.key_values("sqlite", row):
        match = " AND ".join(f"{key} = {value}" for key, value in zip(spec.keys, values, strict=True))
        present = " AND ".join(f"{value} IS NOT NULL" for value in values)
        statements.append(
            f"INSERT INTO {spec.counts} ({spec.columns}, n) SELECT {', '.join(values)}, 0 "
            f"WHERE {present} AND NOT EXISTS (SELECT 1 FROM {spec.counts} WHERE {match}); "
            f"UPDATE {spec.counts} SET n = n + ({delta}) "
            f"WHERE id = (SELECT min(id) FROM {spec.counts} WHERE {match});"
        )
    return " ".join(statements)


def _sqlite_sql(spec: Counted) -> list[str]:
    insert, update, delete, _ = spec.triggers
    changed = " OR ".join(f"NEW.{column} IS NOT OLD.{column}" for column in spec.read_columns)
    read = ", ".join(spec.read_columns)
    return [
        f"CREATE TRIGGER IF NOT EXISTS {insert} AFTER INSERT ON {spec.table} BEGIN {_sqlite_add(spec, 'NEW', 1)} END",
        f"CREATE TRIGGER IF NOT EXISTS {update} AFTER UPDATE OF {read} ON {spec.table} WHEN {changed} "
        f"BEGIN {_sqlite_add(spec, 'OLD', -1)} {_sqlite_add(spec, 'NEW', 1)} END",
        f"CREATE TRIGGER IF NOT EXISTS {delete} AFTER DELETE ON {spec.table} BEGIN {_sqlite_add(spec, 'OLD', -1)} END",
    ]


def _trigger_names(connection: BaseDatabaseWrapper, spec: Counted) -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass", [spec.table])
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [spec.table])
        return {name for (name,) in cursor.fetchall()}


def _expected(connection: BaseDatabaseWrapper, spec: Counted) -> set[str]:
    # SQLite has no TRUNCATE (its DELETE without WHERE runs the delete trigger per row).
    return set(spec.triggers if connection.vendor == "postgresql" else spec.triggers[:3])


def install_count_triggers(
    connection: BaseDatabaseWrapper = default_connection, *, specs: Iterable[Counted] = COUNTED
) -> None:
    """Create (or replace) the triggers of ``specs`` and recount their figures from the rows, in one transaction.

    On PostgreSQL, creating a trigger locks its table against writes until the transaction ends, so no write can
    fall between the recount and the trigger.
    """
    if connection.vendor not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"count triggers are written for PostgreSQL and SQLite, not {connection.vendor}")
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        for spec in specs:
            for statement in _postgresql_sql(spec) if connection.vendor == "postgresql" else _sqlite_sql(spec):
                cursor.execute(statement)
            cursor.execute(f"DELETE FROM {spec.counts}")
            cursor.execute(
                f"INSERT INTO {spec.counts} ({spec.columns}, n) SELECT {spec.columns}, count(*) "
                f"FROM ({spec.keyed_rows(connection.vendor, spec.table)}) AS k GROUP BY {spec.columns}"
            )


def drop_count_triggers(
    connection: BaseDatabaseWrapper = default_connection, *, specs: Iterable[Counted] = COUNTED
) -> None:
    with connection.cursor() as cursor:
        for spec in specs:
            for name in _expected(connection, spec):
                suffix = f" ON {spec.table}" if connection.vendor == "postgresql" else ""
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}{suffix}")
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP FUNCTION IF EXISTS {spec.counts}_add()")


def ensure_count_triggers(
    connection: BaseDatabaseWrapper = default_connection, *, specs: Iterable[Counted] = COUNTED
) -> bool:
    """Put back the triggers of ``specs`` a table rebuild dropped (recounting their figures); True when something
    was missing."""
    if connection.vendor not in ("postgresql", "sqlite"):
        return False
    missing = [spec for spec in specs if not _expected(connection, spec) <= _trigger_names(connection, spec)]
    if not missing:
        return False
    logger.warning("count triggers missing on %s: reinstalled, figures recounted", [s.counts for s in missing])
    install_count_triggers(connection, specs=missing)
    return True


def fold_counts(connection: BaseDatabaseWrapper = default_connection) -> int:
    """Merge each key's rows into one (dropping keys that sum to zero); returns how many rows were merged.

    One statement per table: the rows it deletes are exactly the rows it sums, so a trigger row committed
    meanwhile is left for the next fold, and two folds at once never count a row twice.
    """
    if connection.vendor != "postgresql":
        return 0  # SQLite's triggers keep one row per key already
    merged = 0
    with connection.cursor() as cursor:
        for spec in COUNTED:
            keys, counts = spec.columns, spec.counts
            cursor.execute(
                f"WITH gone AS (DELETE FROM {counts} WHERE ({keys}) IN ("
                f"    SELECT {keys} FROM {counts} GROUP BY {keys} HAVING count(*) > 1 OR sum(n) = 0"
                f") RETURNING {keys}, n), "
                f"kept AS (INSERT INTO {counts} ({keys}, n) "
                f"    SELECT {keys}, sum(n) FROM gone GROUP BY {keys} HAVING sum(n) <> 0) "
                f"SELECT count(*) FROM gone"
            )
            merged += cursor.fetchone()[0]
    return merged


def delivery_counts(*, edition_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Deliveries per status of each edition (editions with none get an empty dict), in one query."""
    ids = list(edition_ids)
    found: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        DeliveryCount.objects.filter(edition_id__in=ids)
        .values_list("edition_id", "status")
        .annotate(total=Sum("n"))
        .order_by()
    )
    for edition_id, status, total in rows:
        if total:
            found[edition_id][status] = total
    return {edition_id: found.get(edition_id, {}) for edition_id in ids}


def subscriber_day_counts(*, since: Date) -> dict[str, dict[Date, int]]:
    """Subscribers per day of each of ``DAY_EVENTS`` (the day its timestamp falls on), from ``since`` on, in one
    query over a few rows per day."""
    found: dict[str, dict[Date, int]] = {event: {} for event in DAY_EVENTS}
    rows = (
        SubscriberDayCount.objects.filter(day__gte=since)
        .values_list("event", "day")
        .annotate(total=Sum("n"))
        .order_by()
    )
    for event, day, total in rows:
        if total:
            found[event][day] = total
    return found


def subscriber_counts() -> dict[str, int]:
    """Subscribers per status, in one query over a handful of rows."""
    rows = SubscriberCount.objects.values_list("status").annotate(total=Sum("n")).order_by()
    return {status: total for status, total in rows if total}


def edition_delivery_count(statuses: Iterable[str]) -> Any:
    """An annotation for an Edition queryset: its deliveries in ``statuses``, from the kept figures."""
    kept = (
        DeliveryCount.objects.filter(edition_id=OuterRef("pk"), status__in=list(statuses))
        .order_by()
        .values("edition_id")
        .annotate(total=Sum("n"))
        .values("total")
    )
    return Coalesce(Subquery(kept, output_field=IntegerField()), 0)
