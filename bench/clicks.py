"""Click redirect load: gunicorn + PostgreSQL + Redis under an open-loop client, then every click checked stored once.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/clicks.py [--rate 300] [--seconds 25] [--workers 2] [--threads 1] \\
            [--lock-db] [--saturate 10]

The bench makes its own database (``<DATABASE_URL's name>_bench_clicks``, dropped at the end unless ``--keep-db``)
with an edition of 10 papers x 4 links already sent to ``--readers`` readers two hours ago, and its link table
recorded by the sender's own rendering (``subscribers.clicks.emailed``: database + cache). It starts gunicorn as
deployed (``-c python:config.gunicorn``), a Celery worker on the transactional queue and beat (which drains the
click stream every ``CLICK_DRAIN_SECONDS``), then a client process fires ``--rate`` requests a second for
``--seconds`` seconds at fixed times (open loop: a slow answer does not slow the schedule, and latency counts from
the scheduled moment, so queueing shows up in the figures). Each request is a new connection, as a click from a mail
app is. A few are HEADs and a few carry a scanner's User-Agent; some repeat an earlier reader's link.

``--lock-db`` holds an exclusive lock on the click tables for the whole load, as a database stalled by a long
migration or a vacuum would: the redirect must not notice, and the drain must catch up afterwards.
``--saturate N`` then runs N seconds closed-loop (16 connections, each sending as fast as answered) for the ceiling.

At the end it waits for the drain, then checks against the plan: one Click row per (reader, edition, paper, kind)
clicked, each with as many requests as were sent, counted exactly when a browser GET came, and the per-paper
reader counts equal to the distinct counted readers. Goal (issue 12): p99 < 50 ms at 300 clicks/s on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.services import free_port, wait_for_port  # noqa: E402

BENCH_DB = "bench_clicks"  # prefixed with DATABASE_URL's own database name, so helpers sharing a server never clash
PAPERS, KINDS = 10, ("title", "page", "pdf", "code")  # what a card links for a paper with an arXiv id and code
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
SCANNER = "Mozilla/5.0 (compatible; Proofpoint URL Defense)"


# --- the client process ------------------------------------------------------------------------------------


async def _request(port: int, method: str, path: str, agent: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: {agent}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        data = await reader.read()
    finally:
        writer.close()
    head = data.split(b"\r\n\r\n", 1)[0]
    status = int(head.split(b" ", 2)[1])
    if status == 302 and b"\r\nLocation: https://" not in head:
        return -302  # a redirect anywhere else would be a bug
    return status


async def _open_loop(port: int, plan: list[list[str]], rate: float) -> dict:
    loop = asyncio.get_running_loop()
    latencies: list[float] = [0.0] * len(plan)
    statuses: list[int] = [0] * len(plan)
    start = loop.time() + 0.2

    async def fire(i: int, method: str, path: str, agent: str) -> None:
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        try:
            statuses[i] = await _request(port, method, path, agent)
        except OSError:
            statuses[i] = -1
        latencies[i] = loop.time() - scheduled

    await asyncio.gather(*(fire(i, *item) for i, item in enumerate(plan)))
    return {"elapsed": loop.time() - start, "latencies": latencies, "statuses": statuses, "sent": len(plan)}


async def _closed_loop(port: int, plan: list[list[str]], seconds: float, connections: int) -> dict:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    statuses: list[int] = []
    deadline = loop.time() + seconds
    cursor = iter(range(len(plan)))
    sent = 0

    async def user() -> None:
        nonlocal sent
        for i in cursor:
            if loop.time() >= deadline:
                return
            sent = max(sent, i + 1)
            began = loop.time()
            try:
                statuses.append(await _request(port, *plan[i]))
            except OSError:
                statuses.append(-1)
            latencies.append(loop.time() - began)

    began = loop.time()
    await asyncio.gather(*(user() for _ in range(connections)))
    return {"elapsed": loop.time() - began, "latencies": latencies, "statuses": statuses, "sent": sent}


def run_client(port: int, plan_file: str, mode: str, value: float) -> dict:
    plan = json.loads(Path(plan_file).read_text())
    if mode == "open":
        return asyncio.run(_open_loop(port, plan, value))
    return asyncio.run(_closed_loop(port, plan, value, 16))


# --- the orchestrating process -----------------------------------------------------------------------------


def _server_url(database_url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(database_url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def _bench_db(database_url: str) -> str:
    own = urllib.parse.urlsplit(database_url).path.strip("/")
    return f"{own}_{BENCH_DB}" if own and own != "postgres" else BENCH_DB


def _recreate_database(database_url: str) -> str:
    import psycopg

    name = _bench_db(database_url)
    with psycopg.connect(_server_url(database_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return _server_url(database_url, name)


def _seed(readers: int) -> tuple[int, list[int], dict[int, tuple[int, str]]]:
    """An edition sent two hours ago to ``readers`` readers, its link table recorded; (edition, readers, table)."""
    from django.utils import timezone

    from digest.models import Edition, EditionEntry, Paper
    from subscribers.clicks.emailed import emailed_body
    from subscribers.clicks.links import edition_links_stored
    from subscribers.models import Delivery, Subscriber

    day = date.today() - timedelta(days=1)
    papers = Paper.objects.bulk_create(
        Paper(
            arxiv_id=f"2503.{i:05d}",
            title=f"Bench paper {i}",
            title_key=f"bench paper {i}",
            abstract=f"What bench paper {i} finds.",
            links={"code": f"https://github.com/bench/paper-{i}"},
        )
        for i in range(PAPERS)
    )
    edition = Edition.objects.create(date=day, status=Edition.Status.SENT, sent_at=timezone.now())
    EditionEntry.objects.bulk_create(
        EditionEntry(edition=edition, paper=paper, position=i + 1) for i, paper in enumerate(papers)
    )
    # The sender's own rendering numbers the links and records the table (title, paper page, PDF, code).
    emailed_body(edition)
    table = edition_links_stored(edition_id=edition.pk)
    assert len(table) == PAPERS * len(KINDS), table
    people = Subscriber.objects.bulk_create(
        Subscriber(email=f"clicker{n:06d}@example.org", status=Subscriber.Status.ACTIVE) for n in range(readers)
    )
    sent_at = timezone.now() - timedelta(hours=2)
    Delivery.objects.bulk_create(
        Delivery(edition=edition, subscriber=s, status=Delivery.Status.SENT, sent_at=sent_at) for s in people
    )
    return edition.pk, [s.pk for s in people], {n: (link.paper_id, link.kind) for n, link in table.items()}


def _plan(n: int, edition_id: int, reader_ids: list[int], numbers: list[int], rng: random.Random) -> list[list[str]]:
    """(method, path, agent) for each request: mostly new (reader, link) pairs, 10% repeats, 3% HEAD, 3% scanner."""
    from subscribers.clicks.links import click_url
    from subscribers.clicks.tokens import make_click_token

    tokens: dict[int, str] = {}
    done: list[tuple[int, int]] = []
    plan = []
    for _ in range(n):
        if done and rng.random() < 0.10:
            reader, number = rng.choice(done)
        else:
            reader, number = rng.choice(reader_ids), rng.choice(numbers)
            done.append((reader, number))
        token = tokens.get(reader) or tokens.setdefault(
            reader, make_click_token(subscriber_id=reader, edition_id=edition_id)
        )
        roll = rng.random()
        method = "HEAD" if roll < 0.03 else "GET"
        agent = SCANNER if 0.03 <= roll < 0.06 else BROWSER
        path = urllib.parse.urlsplit(click_url(token=token, number=number)).path
        plan.append([method, path, agent, reader, number])
    return plan


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _report(label: str, result: dict) -> None:
    lat = [v * 1000 for v in result["latencies"]]
    ok = sum(1 for s in result["statuses"] if s == 302)
    bad = len(result["statuses"]) - ok
    print(
        f"{label}: {ok} redirects in {result['elapsed']:.1f}s = {ok / result['elapsed']:.0f} redirects/s; "
        f"latency p50 {statistics.median(lat):.1f} ms, p90 {_percentile(lat, 0.9):.1f} ms, "
        f"p99 {_percentile(lat, 0.99):.1f} ms, max {max(lat):.1f} ms; other answers or errors: {bad}",
        flush=True,
    )


def _hold_lock(url: str, stop: threading.Event, held: threading.Event) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute(
            "LOCK TABLE subscribers_click, digest_paperclicks, subscribers_clickstreammark IN ACCESS EXCLUSIVE MODE"
        )
        held.set()
        stop.wait()
        conn.rollback()


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_for_log(path: Path, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text(errors="replace"):
        if time.monotonic() > deadline:
            sys.exit(f"{path.name}: {text!r} not seen:\n{path.read_text()[-3000:]}")
        time.sleep(0.2)


def _drained(redis_client, stream: str) -> bool:
    from subscribers.models import ClickStreamMark

    last = redis_client.xrevrange(stream, count=1)
    mark = ClickStreamMark.objects.filter(stream=stream).values_list("last_id", flat=True).first()
    return not last or last[0][0].decode() == mark


def _check(plan: list[list], table: dict[int, tuple[int, str]], edition_id: int) -> bool:
    from django.db.models import Sum

    from digest.models import PaperClicks
    from subscribers.models import Click

    requests: dict[tuple[int, int, str], int] = defaultdict(int)
    counted: set[tuple[int, int, str]] = set()
    for method, _path, agent, reader, number in plan:
        paper, kind = table[number]
        requests[(reader, paper, kind)] += 1
        if method == "GET" and agent == BROWSER:
            counted.add((reader, paper, kind))
    rows = {
        (s, p, k): (c, at is not None)
        for s, p, k, c, at in Click.objects.filter(edition_id=edition_id).values_list(
            "subscriber_id", "paper_id", "kind", "count", "counted_at"
        )
    }
    expected = {key: (n, key in counted) for key, n in requests.items()}
    readers_per_paper: dict[int, set[int]] = defaultdict(set)
    for reader, paper, _kind in counted:
        readers_per_paper[paper].add(reader)
    stored_readers = dict(PaperClicks.objects.values_list("paper_id").annotate(n=Sum("readers")))
    rows_ok = rows == expected
    readers_ok = stored_readers == {p: len(r) for p, r in readers_per_paper.items()}
    missing = sum(1 for key in expected if key not in rows)
    wrong = sum(1 for key, value in expected.items() if key in rows and rows[key] != value)
    print(
        f"check: {len(plan)} requests -> {len(rows)} click rows (expected {len(expected)}), "
        f"{sum(c for c, _ in rows.values())} requests stored; each click stored once with its count: {rows_ok} "
        f"(missing {missing}, wrong {wrong}, extra {len(set(rows) - set(expected))}); "
        f"counted {sum(1 for _, h in rows.values() if h)}; per-paper readers right: {readers_ok}",
        flush=True,
    )
    return rows_ok and readers_ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=300.0, help="requests per second (open loop)")
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--readers", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker (>1: gthread)")
    parser.add_argument("--lock-db", action="store_true", help="hold the click tables locked during the load")
    parser.add_argument("--saturate", type=float, default=0.0, help="then N seconds closed-loop, 16 connections")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--client", nargs=4, metavar=("PORT", "PLAN", "MODE", "VALUE"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.client:
        port, plan_file, mode, value = args.client
        print(json.dumps(run_client(int(port), plan_file, mode, float(value))))
        return 0

    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith("postgres") or not redis_url:
        print("Set DATABASE_URL (a PostgreSQL server) and REDIS_URL (a Redis database this bench may use).")
        return 2

    port = free_port()
    bench_url = _recreate_database(database_url)
    stream = f"bench-clicks:{uuid.uuid4().hex[:8]}"
    workdir = ROOT / "var" / "bench"
    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": bench_url,
        "REDIS_URL": redis_url,
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "SITE_URL": f"http://127.0.0.1:{port}",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "SECURE_HSTS_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
        "CLICK_STREAM_KEY": stream,
        "TRACK_CLICKS": "true",
        "SEND_TICK_SECONDS": "3600",
        "VAR_DIR": str(workdir),
        "WEB_CONCURRENCY": str(args.workers),
    }
    env.pop("EMAIL_BACKEND", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    import django

    django.setup()
    import redis

    redis_client = redis.Redis.from_url(redis_url)
    edition_id, reader_ids, table = _seed(args.readers)
    rng = random.Random(12)
    plan = _plan(int(args.rate * args.seconds), edition_id, reader_ids, sorted(table), rng)
    saturate_plan = (
        _plan(int(2000 * args.saturate), edition_id, reader_ids, sorted(table), rng) if args.saturate else []
    )

    gunicorn = [str(Path(sys.executable).with_name("gunicorn")), "-c", "python:config.gunicorn"]
    gunicorn += ["config.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers)]
    if args.threads > 1:
        gunicorn += ["--worker-class", "gthread", "--threads", str(args.threads)]
    celery = [sys.executable, "-m", "celery", "-A", "config"]
    processes = [
        _start(gunicorn, env, workdir / "clicks-web.log"),
        _start([*celery, "worker", "-Q", "transactional", "--concurrency", "1", "-l", "INFO"], env,
               workdir / "clicks-worker.log"),
        _start([*celery, "beat", "-l", "INFO"], env, workdir / "clicks-beat.log"),
    ]  # fmt: skip
    stop_lock, lock_held = threading.Event(), threading.Event()
    ok = False
    try:
        wait_for_port(port, timeout=30)
        _wait_for_log(workdir / "clicks-worker.log", " ready.")
        # Warm each web worker's imports with invalid links (they record nothing).
        for _ in range(4 * args.workers):
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/r/x/1/", timeout=60)  # a busy shared machine
        if args.lock_db:
            threading.Thread(target=_hold_lock, args=(bench_url, stop_lock, lock_held), daemon=True).start()
            lock_held.wait(10)
            print("click tables locked for the whole load", flush=True)
        phases = [("open", plan, args.rate, f"open loop at {args.rate:.0f}/s for {args.seconds:.0f}s")]
        if args.saturate:
            phases.append(
                ("closed", saturate_plan, args.saturate, f"closed loop, 16 connections, {args.saturate:.0f}s")
            )
        used: list[list] = []
        for mode, items, value, label in phases:
            plan_file = workdir / f"clicks-plan-{mode}.json"
            plan_file.write_text(json.dumps([item[:3] for item in items]))
            out = subprocess.run(
                [sys.executable, __file__, "--client", str(port), str(plan_file), mode, str(value)],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            plan_file.unlink()
            result = json.loads(out)
            _report(label, result)
            used += items[: result["sent"]]
            if mode == "open" and args.lock_db:
                backlog = redis_client.xlen(stream)
                stop_lock.set()
                print(f"lock released with {backlog} clicks waiting in the stream", flush=True)
        started = time.monotonic()
        while not _drained(redis_client, stream) and time.monotonic() - started < 180:
            time.sleep(0.2)
        print(f"drain: the stream was applied {time.monotonic() - started:.1f}s after the load ended", flush=True)
        ok = _check(used, table, edition_id)
    finally:
        stop_lock.set()
        for process in processes:
            _stop(process)
        redis_client.delete(stream)
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            import psycopg

            with psycopg.connect(_server_url(database_url, "postgres"), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{_bench_db(database_url)}" WITH (FORCE)')
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
