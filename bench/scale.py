"""Scale benchmark: one edition sent by 1, 2 and 4 real Celery worker processes; emails/s and the speed-up.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python bench/scale.py [--subscribers 20000] [--workers 1,2,4] [--esp null|moto]

It makes its own database (``bench_scale`` on DATABASE_URL's server, dropped at the end unless ``--keep-db``),
fills it with subscribers, and for each worker count starts that many ``celery worker --pool solo`` processes on
the ``sending`` queue (one process each, as separate hosts would run them), builds a new approved edition, and
times the whole send as production does it: fan-out (one Delivery row per subscriber, chunks enqueued) until the
edition is marked sent. It then checks that every subscriber has exactly one sent delivery. An untimed warm-up
pass comes first (``--no-warmup`` skips it for a huge run).

``--esp null`` (default) hands each message to ``bench/null_esp.py``, which serialises the full MIME message (what
SES's SendRawEmail or SMTP is given) and drops it; ``--esp test`` builds the payload as Anymail's test backend does,
without MIME (closer to an HTTP-API ESP); ``--esp moto`` sends to a moto SES server started here (its own cost
dominates; keep N small).
The memory figure is the peak resident set (VmHWM) of the largest worker process, and of this driver.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# BENCH_DB: helpers sharing one PostgreSQL server each give their own name.
BENCH_DB = os.environ.get("BENCH_DB", "bench_scale")
WORDS = ["language", "model", "agents", "retrieval", "diffusion", "protein", "graph", "reasoning", "vision", "robot"]


@dataclass
class Run:
    workers: int
    fan_out_s: float
    total_s: float
    peak_worker_mb: float
    sent: int
    workers_mb: list[float]
    fan_out_mb: float  # this driver's peak during the fan-out alone
    before_fan_out_mb: float  # and its size just before

    @property
    def rate(self) -> float:
        return self.sent / self.total_s


def database_urls(server_url: str) -> tuple[str, str]:
    parts = urlsplit(server_url)
    if not parts.scheme.startswith("postgres"):
        sys.exit("bench/scale.py needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres")
    return server_url, urlunsplit(parts._replace(path=f"/{BENCH_DB}"))


def recreate_database(server_url: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")


def drop_database(server_url: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set so far (VmHWM), in MB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def reset_peak_rss() -> None:
    """Start this process's VmHWM again from its current size (Linux: 5 to clear_refs), to measure one step."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def fill_subscribers(count: int) -> None:
    from django.db import connection

    from subscribers.models import Subscriber

    rng = random.Random(7)
    batch = 10_000
    for start in range(0, count, batch):
        Subscriber.objects.bulk_create(
            Subscriber(
                email=f"reader{n:07d}@example.org",
                status=Subscriber.Status.ACTIVE,
                # Half with keywords, as in bench/render.py: those emails carry a personal section.
                keywords=rng.sample(WORDS, rng.randint(1, 2)) if n % 2 else [],
            )
            for n in range(start, min(start + batch, count))
        )
    # The planner's statistics for the new rows, as autovacuum would gather them within a minute of a bulk load.
    # This machine's PostgreSQL runs with autovacuum off: without them the planner takes the million rows for a few
    # hundred, and picks each fan-out slice by reading every subscriber (90 s instead of 40 for a million).
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def make_papers(day: date, count: int = 10) -> None:
    from digest.models import Appearance, DigestDocument, Paper

    rng = random.Random(11)
    document = DigestDocument.objects.create(listed_date=day, raw=b"bench", sha256="b" * 64)
    for i in range(count):
        title = " ".join(rng.choice(WORDS) for _ in range(9)).capitalize()
        paper = Paper.objects.create(
            arxiv_id=f"2503.{i:05d}",
            title=title,
            title_key=title.lower(),
            abstract=" ".join(rng.choice(WORDS) for _ in range(160)),
            authors=[f"Author {j}" for j in range(rng.randint(2, 12))],
            upvotes=rng.randint(0, 300),
            first_seen=day,
            last_seen=day,
            appearance_count=1,
        )
        Appearance.objects.create(
            paper=paper, document=document, listed_date=day, position=i + 1, upvotes=paper.upvotes
        )


def new_edition(day: date):
    from digest.models import Edition
    from digest.trending import edition_build

    edition = edition_build(date=day)
    Edition.objects.filter(pk=edition.pk).update(status=Edition.Status.APPROVED)
    edition.refresh_from_db()
    return edition


def start_workers(count: int, env: dict[str, str], log_dir: Path) -> list[subprocess.Popen]:
    processes = []
    for index in range(count):
        log = open(log_dir / f"worker-{count}-{index}.log", "wb")  # noqa: SIM115
        processes.append(
            subprocess.Popen(
                [
                    *(sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "sending", "--pool", "solo"),
                    *("-n", f"bench{count}-{index}@%h", "--without-mingle", "--without-gossip", "-l", "INFO"),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    deadline = time.monotonic() + 120
    for index in range(count):
        path = log_dir / f"worker-{count}-{index}.log"
        while b" ready." not in path.read_bytes():
            if time.monotonic() > deadline or processes[index].poll() is not None:
                sys.exit(f"worker {index} did not start:\n{path.read_text()[-3000:]}")
            time.sleep(0.2)
    return processes


def stop_workers(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def send_once(edition, *, workers: int, env: dict[str, str], log_dir: Path, subscribers: int) -> Run:
    from django.db import transaction
    from django.utils import timezone

    from digest.models import Edition
    from subscribers.delivery.operator import edition_send_prepare
    from subscribers.models import Delivery
    from subscribers.tasks.sending import enqueue_batches

    processes = start_workers(workers, env, log_dir)
    try:
        reset_peak_rss()
        before_fan_out_mb = peak_rss_mb(os.getpid())
        started = time.perf_counter()
        with transaction.atomic():
            batch = edition_send_prepare(edition=edition, now=timezone.now())
            enqueue_batches([batch])
        fanned_out = time.perf_counter()
        fan_out_mb = peak_rss_mb(os.getpid())
        last_report = fanned_out
        while Edition.objects.filter(pk=edition.pk).values_list("status", flat=True).get() != Edition.Status.SENT:
            time.sleep(0.5)
            if time.perf_counter() - last_report > 30:
                last_report = time.perf_counter()
                done = Delivery.objects.filter(edition=edition, status=Delivery.Status.SENT).count()
                print(f"  ... {done:,} sent after {last_report - started:.0f}s", flush=True)
            dead = [p.returncode for p in processes if p.poll() is not None]
            if dead:
                sys.exit(f"a worker exited ({dead}); see {log_dir}")
        finished = time.perf_counter()
        workers_mb = [peak_rss_mb(p.pid) for p in processes]
    finally:
        stop_workers(processes)
    sent = Delivery.objects.filter(edition=edition, status=Delivery.Status.SENT).count()
    rows = Delivery.objects.filter(edition=edition).count()
    if sent != subscribers or rows != subscribers:
        sys.exit(f"expected {subscribers} sent deliveries, found {sent} sent of {rows}")
    return Run(
        workers=workers,
        fan_out_s=fanned_out - started,
        total_s=finished - started,
        peak_worker_mb=max(workers_mb),
        sent=sent,
        workers_mb=workers_mb,
        fan_out_mb=fan_out_mb,
        before_fan_out_mb=before_fan_out_mb,
    )


def fan_out_only(edition) -> None:
    """The fan-out alone (rows created, chunk tasks published), timed and measured; the tasks are then purged."""
    from django.db import transaction
    from django.utils import timezone

    from config.celery import app
    from subscribers.delivery.operator import edition_send_prepare
    from subscribers.models import Delivery
    from subscribers.tasks.sending import enqueue_batches

    reset_peak_rss()
    before_mb = peak_rss_mb(os.getpid())
    started = time.perf_counter()
    with transaction.atomic():
        batch = edition_send_prepare(edition=edition, now=timezone.now())
        chunks = enqueue_batches([batch])
    seconds = time.perf_counter() - started
    peak_mb = peak_rss_mb(os.getpid())
    rows = Delivery.objects.filter(edition=edition).count()
    app.control.purge()
    print(
        f"fan-out alone: {rows:,} rows and {chunks:,} chunk tasks in {seconds:.1f}s; the driver {before_mb:.0f} MB "
        f"before, {peak_mb:.0f} MB at its peak during it",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker process counts")
    parser.add_argument("--esp", choices=("null", "test", "moto"), default="null")
    parser.add_argument("--chunk", type=int, default=500, help="subscribers per chunk task (SEND_CHUNK_SIZE)")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed first pass (for huge runs)")
    parser.add_argument("--fan-out-only", action="store_true", help="time the fan-out alone, send nothing")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    server_url, bench_url = database_urls(os.environ.get("DATABASE_URL", ""))
    redis_url = os.environ.get("REDIS_URL") or sys.exit("bench/scale.py needs Redis: set REDIS_URL")
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    worker_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": bench_url,
        "REDIS_URL": redis_url,
        "VAR_DIR": str(tmp / "var"),
        "SITE_URL": "https://papers.example.org",
        # As in production: with DEBUG on, Django keeps each process's last 9,000 queries (a chunk's record is a
        # 23 KB statement), which grew the workers by about 5 MB per 100,000 messages sent.
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "SEND_CHUNK_SIZE": str(args.chunk),
        "PYTHONPATH": str(ROOT),
    }
    moto = None
    if args.esp == "moto":
        from tests.support.services import run_moto_ses

        moto = run_moto_ses()
        ses = moto.__enter__()
        worker_env.update(ses.env())
        worker_env.pop("EMAIL_BACKEND", None)
    else:
        backend = "EmailBackend" if args.esp == "null" else "ApiEmailBackend"
        worker_env["EMAIL_BACKEND"] = f"bench.null_esp.{backend}"
        worker_env["DEFAULT_FROM_EMAIL"] = "Trending Papers <papers@example.org>"
    driver = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "VAR_DIR", "DEBUG", "SECRET_KEY")
    os.environ.update({k: worker_env[k] for k in driver})
    os.environ.update({"SEND_CHUNK_SIZE": str(args.chunk), "SITE_URL": worker_env["SITE_URL"], "LOG_LEVEL": "WARNING"})

    recreate_database(server_url)
    try:
        import django

        django.setup()
        from django.core.management import call_command

        from config.celery import app

        call_command("migrate", verbosity=0)
        app.control.purge()
        started = time.perf_counter()
        fill_subscribers(args.subscribers)
        print(f"{args.subscribers:,} subscribers created in {time.perf_counter() - started:.0f}s; ESP: {args.esp}")
        today = date.today()
        make_papers(today)

        if args.fan_out_only:
            fan_out_only(new_edition(today))
            return
        runs: list[Run] = []
        offset = 0
        if not args.no_warmup:
            # The first send into empty tables (no planner statistics, cold caches) is slower than any later one;
            # without this pass the first worker count measured would look worse than it is.
            edition = new_edition(today)
            warm = send_once(edition, workers=max(counts), env=worker_env, log_dir=tmp, subscribers=args.subscribers)
            print(f"warm-up pass: {warm.rate:,.0f} emails/s (not counted)", flush=True)
            offset = 1
        for index, workers in enumerate(counts, start=offset):
            edition = new_edition(today - timedelta(days=index))
            run = send_once(edition, workers=workers, env=worker_env, log_dir=tmp, subscribers=args.subscribers)
            runs.append(run)
            print(
                f"{workers} worker process(es): {run.total_s:7.1f}s ({run.fan_out_s:.1f}s fan-out) "
                f"{run.rate:8,.0f} emails/s   largest worker {run.peak_worker_mb:.0f} MB",
                flush=True,
            )
            print(
                f"  peak RSS: workers {', '.join(f'{mb:.0f}' for mb in run.workers_mb)} MB; "
                f"the driver during fan-out and enqueue {run.fan_out_mb:.0f} MB "
                f"({run.before_fan_out_mb:.0f} MB just before it)",
                flush=True,
            )
        base = runs[0].rate
        print()
        print(f"{'workers':>7} {'seconds':>9} {'emails/s':>10} {'speed-up':>9} {'largest worker MB':>18}")
        for run in runs:
            print(
                f"{run.workers:>7} {run.total_s:>9.1f} {run.rate:>10,.0f} {run.rate / base:>8.2f}x "
                f"{run.peak_worker_mb:>18.0f}"
            )
        driver_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"driver (fan-out and enqueue) peak: {driver_mb:.0f} MB; {os.cpu_count()} CPUs; logs in {tmp}")
    finally:
        from django.db import connections

        connections.close_all()
        if moto is not None:
            moto.__exit__(None, None, None)
        if not args.keep_db:
            drop_database(server_url)


if __name__ == "__main__":
    main()
