"""The delivery and subscriber figures the database keeps: equal to a real count after every kind of write."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import time_machine
from django.db import connection, transaction
from django.db.models import Count
from django.db.models.functions import TruncDate

from digest.models import Edition
from subscribers import csv_io
from subscribers.counts import (
    DAY_EVENTS,
    DELIVERIES,
    SUBSCRIBER_DAYS,
    delivery_counts,
    ensure_count_triggers,
    fold_counts,
    install_count_triggers,
    subscriber_counts,
    subscriber_day_counts,
)
from subscribers.models import Delivery, DeliveryCount, Subscriber, SubscriberCount, SubscriberDayCount
from subscribers.services import (
    subscriber_confirm,
    subscriber_delete,
    subscriber_subscribe,
    subscriber_suppress,
    subscriber_unsubscribe,
)
from tests.subscribers.factories import make_subscriber
from tests.support.services import ROOT, database_url_for

S = Delivery.Status


def counted_deliveries() -> dict[int, dict[str, int]]:
    """What a real GROUP BY says, in the shape ``delivery_counts`` answers."""
    real: dict[int, dict[str, int]] = {}
    for edition_id, status, n in Delivery.objects.values_list("edition_id", "status").annotate(n=Count("id")):
        real.setdefault(edition_id, {})[status] = n
    return real


def kept_deliveries() -> dict[int, dict[str, int]]:
    editions = Edition.objects.values_list("pk", flat=True)
    return {ed: by_status for ed, by_status in delivery_counts(edition_ids=editions).items() if by_status}


def counted_subscribers() -> dict[str, int]:
    return dict(Subscriber.objects.values_list("status").annotate(n=Count("id")).order_by())


def counted_days() -> dict[str, dict[date, int]]:
    """What the dashboard's GROUP BY over the rows said: subscribers per day of each timestamp (Django's
    TruncDate, in the project's time zone)."""
    real: dict[str, dict[date, int]] = {event: {} for event in DAY_EVENTS}
    for event in DAY_EVENTS:
        rows = (
            Subscriber.objects.filter(**{f"{event}__isnull": False})
            .annotate(day=TruncDate(event))
            .values_list("day")
            .annotate(n=Count("id"))
            .order_by()
        )
        real[event] = dict(rows)
    return real


def kept_days() -> dict[str, dict[date, int]]:
    return subscriber_day_counts(since=date(2000, 1, 1))


def edition(days: int = 0) -> Edition:
    return Edition.objects.create(date=date(2026, 3, 1) + timedelta(days=days), status=Edition.Status.SENDING)


@pytest.mark.django_db
def test_delivery_figures_follow_every_kind_of_write() -> None:
    first, second = edition(0), edition(1)
    readers = [make_subscriber() for _ in range(30)]
    # A fan-out: one bulk statement, conflicts ignored (the second run adds nothing).
    for _ in range(2):
        Delivery.objects.bulk_create([Delivery(edition=first, subscriber=s) for s in readers], ignore_conflicts=True)
    Delivery.objects.bulk_create([Delivery(edition=second, subscriber=s) for s in readers[:10]])
    assert kept_deliveries() == counted_deliveries() == {first.pk: {S.QUEUED: 30}, second.pk: {S.QUEUED: 10}}

    # A claim and its outcome, as bulk updates; a webhook's single-row save; a raw SQL update.
    Delivery.objects.filter(edition=first, subscriber__in=readers[:20]).update(status=S.SENDING)
    Delivery.objects.filter(edition=first, status=S.SENDING).update(status=S.SENT)
    one = Delivery.objects.filter(edition=first, status=S.SENT).first()
    one.status = S.BOUNCED
    one.save()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE subscribers_delivery SET status = %s WHERE edition_id = %s AND status = %s",
            [S.FAILED, second.pk, S.QUEUED],
        )
    # An update that changes no status changes no figure.
    Delivery.objects.filter(edition=first).update(attempts=3)
    assert kept_deliveries() == counted_deliveries()
    assert kept_deliveries()[first.pk] == {S.QUEUED: 10, S.SENT: 19, S.BOUNCED: 1}

    # A reader deleted takes their deliveries along; a deleted edition leaves no figure behind.
    subscriber_delete(subscriber=readers[0])
    second.delete()
    assert kept_deliveries() == counted_deliveries()
    assert second.pk not in kept_deliveries()


@pytest.mark.django_db
def test_folding_keeps_every_figure_and_leaves_one_row_per_key() -> None:
    ed = edition()
    readers = [make_subscriber() for _ in range(12)]
    Delivery.objects.bulk_create([Delivery(edition=ed, subscriber=s) for s in readers])
    for reader in readers:  # twelve statements: twelve pairs of rows appended
        Delivery.objects.filter(edition=ed, subscriber=reader).update(status=S.SENT)
    before = kept_deliveries()
    rows_before = DeliveryCount.objects.filter(edition=ed).count()
    assert rows_before > 2

    merged = fold_counts()

    assert merged >= rows_before
    assert kept_deliveries() == before == counted_deliveries() == {ed.pk: {S.SENT: 12}}
    # "queued" summed to zero and is gone; "sent" is one row.
    assert list(DeliveryCount.objects.filter(edition=ed).values_list("status", "n")) == [(S.SENT, 12)]
    assert fold_counts() == 0  # nothing left to merge


@pytest.mark.django_db
def test_subscriber_figures_follow_sign_ups_changes_and_deletions() -> None:
    people = [make_subscriber(status=Subscriber.Status.PENDING) for _ in range(5)]
    Subscriber.objects.filter(pk__in=[p.pk for p in people[:3]]).update(status=Subscriber.Status.ACTIVE)
    people[3].status = Subscriber.Status.UNSUBSCRIBED
    people[3].save()
    subscriber_delete(subscriber=people[4])
    assert subscriber_counts() == counted_subscribers()
    assert subscriber_counts()[Subscriber.Status.ACTIVE] == counted_subscribers()[Subscriber.Status.ACTIVE] >= 3
    fold_counts()
    assert subscriber_counts() == counted_subscribers()
    assert SubscriberCount.objects.values("status").distinct().count() == SubscriberCount.objects.count()


@pytest.mark.django_db
def test_missing_triggers_are_put_back_and_the_figures_recounted() -> None:
    ed = edition()
    Delivery.objects.bulk_create([Delivery(edition=ed, subscriber=make_subscriber()) for _ in range(4)])
    insert_trigger = DELIVERIES.triggers[0]
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER {insert_trigger} ON {DELIVERIES.table}")
    Delivery.objects.bulk_create([Delivery(edition=ed, subscriber=make_subscriber()) for _ in range(3)])
    assert kept_deliveries()[ed.pk] == {S.QUEUED: 4}  # the three went uncounted

    assert ensure_count_triggers() is True
    assert kept_deliveries() == counted_deliveries() == {ed.pk: {S.QUEUED: 7}}
    assert ensure_count_triggers() is False  # all there: nothing done
    Delivery.objects.bulk_create([Delivery(edition=ed, subscriber=make_subscriber())])
    assert kept_deliveries()[ed.pk] == {S.QUEUED: 8}


@pytest.mark.django_db(transaction=True)
def test_two_writers_on_one_edition_never_wait_for_each_other_and_a_fold_does_not_wait_either() -> None:
    """Each statement appends its own count rows: an open transaction holds no lock another writer (or the fold)
    needs. With one counter row per key, the second writer would wait for the first to commit."""
    ed = edition()
    Delivery.objects.bulk_create([Delivery(edition=ed, subscriber=make_subscriber()) for _ in range(10)])
    ids = list(Delivery.objects.filter(edition=ed).order_by("pk").values_list("pk", flat=True))
    url = database_url_for(connection.settings_dict)
    with psycopg.connect(url) as first, psycopg.connect(url, autocommit=True) as second:
        # The first writer claims five rows and keeps its transaction open.
        first.execute("UPDATE subscribers_delivery SET status = 'sending' WHERE id = ANY(%s)", [ids[:5]])
        # The second claims five others, then folds, each giving up after a second if it had to wait.
        second.execute("SET lock_timeout = '1s'")
        second.execute("UPDATE subscribers_delivery SET status = 'sending' WHERE id = ANY(%s)", [ids[5:]])
        done = threading.Event()

        def fold() -> None:
            from django.db import connections

            fold_counts()
            connections.close_all()
            done.set()

        worker = threading.Thread(target=fold)
        worker.start()
        worker.join(timeout=10)
        assert done.is_set(), "the fold waited on an open writer"
        first.commit()
    assert kept_deliveries() == counted_deliveries() == {ed.pk: {S.SENDING: 10}}


@pytest.mark.django_db
def test_truncating_the_deliveries_empties_their_figures() -> None:
    ed = edition()
    Delivery.objects.bulk_create([Delivery(edition=ed, subscriber=make_subscriber()) for _ in range(3)])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the inserts' deferred key checks run first
        cursor.execute(f"TRUNCATE {Delivery._meta.db_table}")
    assert kept_deliveries() == {}


SQLITE_CHECK = textwrap.dedent(
    """
    from datetime import date
    from django.db import connection
    from django.db.models import Count
    from digest.models import Edition
    from subscribers.counts import DELIVERIES, delivery_counts, ensure_count_triggers, subscriber_counts
    from subscribers.models import Delivery, Subscriber

    def real():
        return {s: n for s, n in Delivery.objects.values_list("status").annotate(n=Count("id")).order_by()}

    ed = Edition.objects.create(date=date(2026, 3, 1))
    people = Subscriber.objects.bulk_create(
        Subscriber(email=f"r{i}@example.org", status="active") for i in range(6)
    )
    Delivery.objects.bulk_create([Delivery(edition=ed, subscriber=p) for p in people])
    Delivery.objects.filter(subscriber__in=people[:4]).update(status="sent")
    people[5].delete()
    assert delivery_counts(edition_ids=[ed.pk])[ed.pk] == real() == {"sent": 4, "queued": 1}, real()
    assert subscriber_counts() == {"active": 5}, subscriber_counts()
    # Per day: a confirmation moved past midnight UTC, one cleared; the deleted reader's sign-up is gone.
    from datetime import datetime, timezone as tz
    from subscribers.counts import subscriber_day_counts
    Subscriber.objects.filter(pk=people[0].pk).update(confirmed_at=datetime(2026, 3, 3, 0, 0, 1, tzinfo=tz.utc))
    Subscriber.objects.filter(pk=people[1].pk).update(confirmed_at=datetime(2026, 3, 2, 23, 59, tzinfo=tz.utc))
    Subscriber.objects.filter(pk=people[1].pk).update(confirmed_at=None)
    days = subscriber_day_counts(since=date(2000, 1, 1))
    assert days["confirmed_at"] == {date(2026, 3, 3): 1}, days
    assert sum(days["created_at"].values()) == 5, days
    # A table rebuilt by a later migration loses its triggers: ensure_count_triggers puts them back.
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER {DELIVERIES.triggers[1]}")
    Delivery.objects.filter(status="queued").update(status="failed")
    assert ensure_count_triggers() is True
    assert delivery_counts(edition_ids=[ed.pk])[ed.pk] == real() == {"sent": 4, "failed": 1}, real()
    print("sqlite counts ok")
    """
)


def test_sqlite_migrates_without_trigram_indexes_and_keeps_the_same_figures(tmp_path: Path) -> None:
    """The embedded default: every migration runs on SQLite (the PostgreSQL-only indexes are skipped) and the
    row-level triggers give the same figures."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'embedded.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "VAR_DIR": str(tmp_path / "var"),
    }
    env.pop("REDIS_URL", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    migrated = subprocess.run([*manage, "migrate", "--noinput"], env=env, capture_output=True, text=True, cwd=ROOT)
    assert migrated.returncode == 0, migrated.stderr
    checked = subprocess.run(
        [*manage, "shell", "-c", SQLITE_CHECK], env=env, capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert checked.returncode == 0, checked.stderr
    assert "sqlite counts ok" in checked.stdout


def sign_up(email: str) -> Subscriber:
    return subscriber_subscribe(
        email=email, keywords=[], frequency="daily", consent_source="test", consent_text="yes", ip="127.0.0.1"
    )


@pytest.mark.django_db
def test_day_figures_follow_sign_ups_confirmations_departures_and_deletions() -> None:
    monday = datetime(2026, 3, 2, 9, tzinfo=UTC)
    with time_machine.travel(monday, tick=False):
        people = [sign_up(f"p{i}@example.org") for i in range(6)]
    with time_machine.travel(monday + timedelta(days=1), tick=False):
        for person in people[:5]:
            subscriber_confirm(subscriber=person)
    with time_machine.travel(monday + timedelta(days=2), tick=False):
        subscriber_unsubscribe(subscriber=people[0], via="test")
        subscriber_suppress(email=people[1].email, reason="bounced")
        subscriber_suppress(email=people[2].email, reason="complained")
        subscriber_delete(subscriber=people[3])
    assert kept_days() == counted_days()
    kept = kept_days()
    assert kept["created_at"] == {date(2026, 3, 2): 5}  # the deleted one is no longer counted on its day
    assert kept["confirmed_at"] == {date(2026, 3, 3): 4}
    assert kept["unsubscribed_at"] == {date(2026, 3, 4): 1}
    assert kept["bounced_at"] == kept["complained_at"] == {date(2026, 3, 4): 1}

    # Coming back: a fresh sign-up of who unsubscribed, confirmed two days later, moves their confirmation day.
    with time_machine.travel(monday + timedelta(days=5), tick=False):
        sign_up(people[0].email)
        subscriber_confirm(subscriber=people[0])
    assert kept_days() == counted_days()
    assert kept_days()["confirmed_at"] == {date(2026, 3, 3): 3, date(2026, 3, 7): 1}


@pytest.mark.django_db
def test_day_figures_follow_a_csv_import_bulk_updates_and_raw_sql() -> None:
    with time_machine.travel(datetime(2026, 3, 2, 23, 59, 59, tzinfo=UTC), tick=False):
        text = "email,consent_at,consent_text\n" + "".join(f"c{i}@example.org,2026-01-0{i + 1},ok\n" for i in range(3))
        text += "d@example.org,,\n"
        report = csv_io.import_subscribers(stream=io.StringIO(text), consent_source="test", notify=lambda ids: None)
    assert report.errors == []
    assert kept_days() == counted_days()
    assert kept_days()["created_at"] == {date(2026, 3, 2): 4}

    # A timestamp moved across midnight (UTC) by a bulk update, then cleared; another set by raw SQL.
    Subscriber.objects.filter(email="c0@example.org").update(confirmed_at=datetime(2026, 3, 3, 0, 0, 1, tzinfo=UTC))
    Subscriber.objects.filter(email="c1@example.org").update(confirmed_at=None)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE subscribers_subscriber SET unsubscribed_at = %s WHERE email = %s",
            [datetime(2026, 3, 4, 23, 59, tzinfo=UTC), "d@example.org"],
        )
    # An update that moves no timestamp changes no figure.
    Subscriber.objects.update(keywords=["agents"])
    assert kept_days() == counted_days()
    assert kept_days()["unsubscribed_at"] == {date(2026, 3, 4): 1}
    assert date(2026, 3, 3) in kept_days()["confirmed_at"]


@pytest.mark.django_db
def test_day_figures_fold_and_recount_to_the_same_numbers() -> None:
    with time_machine.travel(datetime(2026, 3, 2, 12, tzinfo=UTC), tick=False):
        people = [make_subscriber() for _ in range(8)]
    for person in people[:4]:  # four statements, four pairs of rows
        subscriber_unsubscribe(subscriber=person, via="test")
    before = kept_days()
    assert fold_counts() > 0
    assert kept_days() == before == counted_days()
    keys = SubscriberDayCount.objects.values("event", "day")
    assert keys.distinct().count() == keys.count()

    # What migration 0011 does to an existing list: the figures counted from the rows.
    SubscriberDayCount.objects.all().delete()
    install_count_triggers(specs=(SUBSCRIBER_DAYS,))
    assert kept_days() == before

    # Only what was missing is put back.
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER {SUBSCRIBER_DAYS.triggers[0]} ON {SUBSCRIBER_DAYS.table}")
    make_subscriber()
    assert ensure_count_triggers() is True
    assert kept_days() == counted_days()
