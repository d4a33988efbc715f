"""CSV import benchmark: 10,000 subscriber rows with 3% bad rows, imported into an empty list and then again.

Runs on a scratch database created and dropped on the server of ``DATABASE_URL`` (default: the local PostgreSQL;
``sqlite`` as the argument uses a temporary SQLite file). With ``REDIS_URL`` set, the confirmation emails of the
pending rows are really published to the broker, on a scratch queue that is deleted afterwards; without it the
publishing step is skipped and said so.

    .venv/bin/python bench/csv_import.py [--rows 10000] [--database postgresql|sqlite]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "bench_csv_import"
BENCH_QUEUE = "bench-csv-import"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    args = parser.parse_args()

    if args.database == "sqlite":
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    else:
        os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    connection.settings_dict.setdefault("TEST", {})["NAME"] = BENCH_DB
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        run(rows=args.rows)
    finally:
        connection.creation.destroy_test_db(BENCH_DB, verbosity=0)


def _publisher() -> tuple[Callable[[list[int]], None], Callable[[], None], str]:
    from django.conf import settings

    if not settings.REDIS_URL:
        return (lambda ids: None), (lambda: None), "skipped (no REDIS_URL)"
    from subscribers.tasks.transactional import send_confirmation

    def publish(ids: list[int]) -> None:
        # What enqueue_confirmations does, on a queue no worker reads, so the bench mails nobody.
        with send_confirmation.app.producer_or_acquire() as producer:
            for subscriber_id in ids:
                send_confirmation.apply_async((subscriber_id,), producer=producer, queue=BENCH_QUEUE)

    def cleanup() -> None:
        with send_confirmation.app.connection_for_write() as conn:
            conn.default_channel.queue_delete(BENCH_QUEUE)

    return publish, cleanup, "published to Redis"


def run(*, rows: int) -> None:
    from django.db import connection

    from subscribers import csv_io
    from subscribers.models import Subscriber
    from tests.admin.csv_rows import generate

    data = generate(rows)
    publish, cleanup, how = _publisher()
    published: list[int] = []

    def notify(ids: list[int]) -> None:
        start = time.perf_counter()
        publish(ids)
        published.append(len(ids))
        timings["publish"] = time.perf_counter() - start

    timings: dict[str, float] = {}
    try:
        for attempt in ("first import", "re-import"):
            start = time.perf_counter()
            report = csv_io.import_subscribers(stream=io.StringIO(data.text), consent_source="bench", notify=notify)
            elapsed = time.perf_counter() - start
            print(
                f"{connection.vendor:<10} {attempt:<12} {rows} rows in {elapsed:6.2f} s "
                f"({rows / elapsed:,.0f} rows/s): {report.summary()}"
            )
        print(f"confirmation tasks: {sum(published)} {how} in {timings.get('publish', 0.0):.2f} s (inside the first)")
        assert Subscriber.objects.count() == data.good, "good rows must be imported exactly once"
    finally:
        cleanup()


if __name__ == "__main__":
    main()
