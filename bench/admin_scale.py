"""Admin pages at scale: server time of every changelist, the edition page, the subscriber search and the dashboard.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python bench/admin_scale.py [--subscribers 1000000] [--papers 100000] [--reuse]

It makes its own database (``bench_admin`` on DATABASE_URL's server, kept for ``--reuse``; ``--drop`` removes it),
fills it with set-based SQL (``bench/admin_data.py``): 1,000,000 subscribers, five editions sent to all of them
(5,000,000 deliveries), 100,000 papers, 500,000 tracking events; then applies the migrations that add the scale
indexes, as an upgrade of a live database would. After ``VACUUM ANALYZE`` (what autovacuum does on a live server)
each page is requested through Django's test client, logged in as a superuser:
one warm-up, then five timed requests; the median is printed with the query count. The slowest query of all pages
is shown with its ``EXPLAIN (ANALYZE, BUFFERS)``. The goal is every page under 300 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.admin_data import Sizes, build  # noqa: E402

BENCH_DB = "bench_admin"
GOAL_MS = 300.0


@dataclass
class Timing:
    name: str
    url: str
    median_ms: float
    worst_ms: float
    cpu_ms: float  # this process's CPU time (median): what the page costs apart from waiting on a loaded machine
    sql_ms: float  # the database's share, summed over the page's queries
    queries: int
    slowest_sql: str
    slowest_ms: float
    queries_seen: list[tuple[float, str]]


def prepare_database(server_url: str, *, reuse: bool) -> bool:
    """(Re)create the bench database; True when it must be filled."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone()
        if reuse and exists:
            return False
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    return True


def fill(sizes: Sizes) -> None:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        build(cursor, sizes)
    print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)


def vacuum() -> None:
    """What autovacuum does on a live server: visibility maps for index-only scans, statistics for the planner."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"  vacuum analyze in {time.perf_counter() - started:.0f} s", flush=True)


def pages() -> list[tuple[str, str]]:
    """(name, URL) of every page measured: every registered changelist, then the pages curators use most."""
    from django.contrib import admin
    from django.urls import reverse

    from digest.models import Edition, Paper
    from subscribers.models import Delivery, Subscriber

    found = [("admin index", reverse("admin:index")), ("dashboard", reverse("admin-dashboard"))]
    for model in sorted(admin.site._registry, key=lambda m: m._meta.label):
        opts = model._meta
        found.append((f"{opts.label} list", reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")))
    editions = list(Edition.objects.filter(deliveries__isnull=False).distinct().order_by("-date").values_list("pk"))
    newest, oldest = editions[0][0], editions[-1][0]
    subscriber = Subscriber.objects.order_by("pk").values_list("pk", "email")[500_000 % Subscriber.objects.count()]
    subscribers = reverse("admin:subscribers_subscriber_changelist")
    deliveries = reverse("admin:subscribers_delivery_changelist")
    papers = reverse("admin:digest_paper_changelist")
    rare = subscriber[1].split("@")[0]
    found += [
        ("subscriber search: one address", f"{subscribers}?q={rare}"),
        ("subscriber search: a name", f"{subscribers}?q=hopper"),
        ("subscriber search: everyone", f"{subscribers}?q=example"),
        ("subscribers: bounced", f"{subscribers}?status__exact=bounced"),
        ("subscribers: keyword", f"{subscribers}?keyword=protein&status__exact=active"),
        ("subscribers: sorted by email", f"{subscribers}?o=1"),
        ("deliveries of the oldest edition", f"{deliveries}?edition__id__exact={oldest}"),
        ("deliveries: failed", f"{deliveries}?status__exact=failed"),
        ("deliveries: failed, newest ed.", f"{deliveries}?status__exact=failed&edition__id__exact={newest}"),
        ("delivery search: an address", f"{deliveries}?q={rare}"),
        ("paper search", f"{papers}?q=diffusion+kernel"),
        # A word in one abstract in eight: every paper it finds is checked and sorted, for the count and the page.
        ("paper search: one word", f"{papers}?q=agents"),
        ("papers: seen in 7 days", f"{papers}?seen_within=7&pinned__exact=0"),
        ("edition page (sending)", reverse("admin:digest_edition_change", args=[newest])),
        ("edition page (sent)", reverse("admin:digest_edition_change", args=[oldest])),
        ("subscriber page", reverse("admin:subscribers_subscriber_change", args=[subscriber[0]])),
        ("paper page", reverse("admin:digest_paper_change", args=[Paper.objects.order_by("-pk").first().pk])),
        ("delivery page", reverse("admin:subscribers_delivery_change", args=[Delivery.objects.first().pk])),
    ]
    return found


def measure(client: object, name: str, url: str, repeats: int) -> Timing:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cpu: list[float] = []

    def get() -> float:
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(url, secure=True)  # type: ignore[attr-defined]
        elapsed = (time.perf_counter() - started) * 1000
        cpu.append((time.process_time() - started_cpu) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{name}: {url} answered {response.status_code}")
        return elapsed

    get()  # warm-up: templates, content types and the pages the database reads are cached after the first call
    cpu.clear()
    times = [get() for _ in range(repeats)]
    cpu_ms = statistics.median(cpu)
    with CaptureQueriesContext(connection) as captured:
        get()
    slowest = max(captured.captured_queries, key=lambda q: float(q["time"]), default={"sql": "", "time": "0"})
    return Timing(
        name=name,
        url=url,
        median_ms=statistics.median(times),
        worst_ms=max(times),
        cpu_ms=cpu_ms,
        sql_ms=sum(float(q["time"]) for q in captured.captured_queries) * 1000,
        queries=len(captured.captured_queries),
        slowest_sql=slowest["sql"],
        slowest_ms=float(slowest["time"]) * 1000,
        queries_seen=[(float(q["time"]) * 1000, q["sql"]) for q in captured.captured_queries],
    )


def explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=Sizes.subscribers)
    parser.add_argument("--papers", type=int, default=Sizes.papers)
    parser.add_argument("--sent-editions", type=int, default=Sizes.sent_editions)
    parser.add_argument("--events", type=int, default=Sizes.events)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep an existing bench_admin database as it is")
    parser.add_argument("--drop", action="store_true", help="drop bench_admin at the end")
    parser.add_argument("--only", default="", help="measure only pages whose name contains this text")
    parser.add_argument("--show-queries", type=float, default=0, help="print each page's queries over this many ms")
    args = parser.parse_args()

    server_url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(server_url)
    if not parts.scheme.startswith("postgres"):
        sys.exit("bench/admin_scale.py needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres")
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{BENCH_DB}"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    must_fill = prepare_database(server_url, reuse=args.reuse)

    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    if must_fill:
        # Filled before the scale indexes exist, then migrated: what upgrading a live database of this size does
        # (the indexes are built concurrently, the kept counts recounted), and faster than inserting past them.
        call_command("migrate", "digest", "0003", verbosity=0)
        call_command("migrate", "subscribers", "0007", verbosity=0)
        sizes = Sizes(
            subscribers=args.subscribers, papers=args.papers, sent_editions=args.sent_editions, events=args.events
        )
        print(f"building {BENCH_DB}: {sizes}", flush=True)
        fill(sizes)
        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        print(f"  migrated to the newest schema (indexes built) in {time.perf_counter() - started:.0f} s", flush=True)
        vacuum()
    else:
        call_command("migrate", verbosity=0)
    user = User.objects.filter(username="bench").first() or User.objects.create_superuser(
        "bench", "bench@example.org", "bench-password"
    )
    client = Client()
    client.force_login(user)

    timings = []
    print(f"\n{'page':<40} {'median ms':>9} {'worst':>7} {'cpu':>6} {'sql':>6} {'queries':>7}  slowest query")
    for name, url in pages():
        if args.only and args.only not in name:
            continue
        t = measure(client, name, url, args.repeats)
        timings.append(t)
        flag = "" if t.median_ms < GOAL_MS else "  <-- over 300 ms"
        print(
            f"{name:<40} {t.median_ms:9.1f} {t.worst_ms:7.1f} {t.cpu_ms:6.1f} {t.sql_ms:6.1f} {t.queries:7d}"
            f"  {t.slowest_ms:6.1f} ms{flag}"
        )
        for ms, sql in t.queries_seen if args.show_queries else ():
            if ms >= args.show_queries:
                print(f"    {ms:6.1f} ms  {sql[:2000]}")
        sys.stdout.flush()
    over = [t for t in timings if t.median_ms >= GOAL_MS]
    slowest_page = max(timings, key=lambda t: t.median_ms)
    print(
        f"\n{len(timings)} pages; slowest {slowest_page.name} at {slowest_page.median_ms:.1f} ms; "
        f"over 300 ms: {len(over)}"
    )
    worst = max(timings, key=lambda t: t.slowest_ms)
    print(f"\nslowest query ({worst.slowest_ms:.1f} ms, on '{worst.name}'):\n{worst.slowest_sql}\n")
    print(explain(worst.slowest_sql))
    print(f"\nload average during the run: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores")
    if args.drop:
        from django.db import connections

        connections.close_all()
        import psycopg

        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
