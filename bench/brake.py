"""Complaint-rate brake benchmark: how long the brake's checkpoint takes as the delivery table grows to millions.

Every chunk, tick and ``send_edition`` asks ``brake_enforce``, and the dashboard and ``/healthz`` ask
``brake_state``: one read of the brake's row and one aggregate over the window (the latest
``BRAKE_WINDOW_DELIVERIES`` sends, along the partial index on ``sent_at``). This fills a scratch PostgreSQL database
(created and dropped on the server of ``DATABASE_URL``) with editions x subscribers worth of deliveries, mostly
accepted with a sprinkle of complaints and hard bounces plus a fan-out still queued, and prints the checkpoint's
time at each size, for the shipped window and a ten times larger one, beside the same aggregate over a plain
"last 30 days" filter (what a count without the window's LIMIT would cost).

    .venv/bin/python bench/brake.py [--subscribers 100000] [--editions 20] [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "bench_brake"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--editions", type=int, default=20)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    if connection.vendor != "postgresql":
        raise SystemExit("bench/brake.py measures PostgreSQL: set DATABASE_URL to a PostgreSQL server.")
    setup_test_environment()
    connection.settings_dict.setdefault("TEST", {})["NAME"] = BENCH_DB
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        run(subscribers=args.subscribers, editions=args.editions, runs=args.runs)
    finally:
        connection.creation.destroy_test_db(BENCH_DB, verbosity=0)


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """(median, worst) milliseconds over ``runs`` calls, after one warm-up call."""
    fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def fill(*, subscribers: int, first_edition: int, editions: int) -> None:
    """Deliveries of ``editions`` more editions to every subscriber, one day apart, in set-based SQL."""
    from django.db import connection

    with connection.cursor() as cursor:
        # Accepted, with 0.2% complaints and 1% hard bounces (by subscriber id, so the mix is fixed); sent_at is the
        # edition's morning plus a second per recipient, as a real send spreads them.
        cursor.execute(
            """
            INSERT INTO subscribers_delivery (edition_id, subscriber_id, status, esp_message_id, attempts,
                last_error, created_at, claim_token, sent_at, updated_at)
            SELECT e.id, s.id,
                   CASE WHEN mod(s.id, 500) = 0 THEN 'complained' WHEN mod(s.id, 100) = 1 THEN 'bounced'
                        WHEN mod(s.id, 3) = 0 THEN 'opened' ELSE 'delivered' END,
                   'msg-' || e.id || '-' || s.id, 1, '', now(), '',
                   now() - (e.age || ' days')::interval + (s.id || ' seconds')::interval, now()
            FROM (SELECT id, %s - row_number() OVER (ORDER BY id) AS age FROM digest_edition
                  WHERE id > %s ORDER BY id) e
            CROSS JOIN subscribers_subscriber s
            """,
            [editions + first_edition, first_edition],
        )
        cursor.execute("ANALYZE subscribers_delivery")


def queued_fan_out(*, edition: object) -> None:
    """A fan-out still waiting: a row per subscriber, no sent_at, so not in the partial index the brake reads."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO subscribers_delivery (edition_id, subscriber_id, status, esp_message_id, attempts, "
            "last_error, created_at, claim_token, updated_at) "
            "SELECT %s, s.id, 'queued', '', 0, '', now(), '', now() FROM subscribers_subscriber s",
            [edition.pk],  # type: ignore[attr-defined]
        )


def run(*, subscribers: int, editions: int, runs: int) -> None:
    from datetime import date, timedelta

    from django.conf import settings
    from django.db import connection
    from django.db.models import Count, Q
    from django.utils import timezone

    from digest.models import Edition
    from subscribers.brake import Thresholds, brake_state, recent_sends
    from subscribers.models import Delivery, Subscriber

    now = timezone.now()
    Subscriber.objects.bulk_create(
        (Subscriber(email=f"reader{i}@example.org", status=Subscriber.Status.ACTIVE) for i in range(subscribers)),
        batch_size=5000,
    )
    print(f"brake checkpoint, PostgreSQL, {subscribers:,} subscribers; median / worst of {runs} runs")
    print(f"{'deliveries':>12} {'window':>8} {'brake_state':>16} {'30-day count, no window':>26}")
    start = date(2025, 1, 1)
    made = 0
    plan = ""
    for step in (1, editions - 1):
        first = Edition.objects.order_by("-id").values_list("id", flat=True).first() or 0
        Edition.objects.bulk_create(
            Edition(date=start + timedelta(days=made + i), status=Edition.Status.SENT) for i in range(step)
        )
        fill(subscribers=subscribers, first_edition=first, editions=step)
        made += step
        if step == 1:
            queued_fan_out(edition=Edition.objects.create(date=date(2030, 1, 1), status=Edition.Status.SENDING))
        total = Delivery.objects.count()
        for window in (settings.BRAKE_WINDOW_DELIVERIES, 10 * settings.BRAKE_WINDOW_DELIVERIES):
            settings.BRAKE_WINDOW_DELIVERIES = window
            state_ms = timed(lambda: brake_state(now=now), runs)
            # What the brake would cost without its window: every accepted delivery of the last 30 days counted.
            naive = Delivery.objects.filter(status__in=Delivery.ACCEPTED, sent_at__gte=now - timedelta(days=30))
            naive_ms = timed(
                lambda naive=naive: naive.aggregate(
                    n=Count("pk"), c=Count("pk", filter=Q(status=Delivery.Status.COMPLAINED))
                ),
                max(3, runs // 10),
            )
            print(
                f"{total:>12,} {window:>8,} {state_ms[0]:>8.2f} / {state_ms[1]:>5.1f} ms "
                f"{naive_ms[0]:>14.1f} / {naive_ms[1]:>6.1f} ms"
            )
        settings.BRAKE_WINDOW_DELIVERIES = window // 10
        plan = recent_sends(now=now, thresholds=Thresholds.from_settings()).explain()
    state = brake_state(now=now)
    print(f"window figures at the end: {state.window.complaints_text()}; {state.window.bounces_text()}")
    print("plan of the window:", " | ".join(line.strip() for line in plan.splitlines()[:3]))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_relation_size('delivery_recent_sends'))")
        print("size of the partial index on sent_at:", cursor.fetchone()[0])


if __name__ == "__main__":
    main()
