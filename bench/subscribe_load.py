"""Sign-up load: gunicorn + PostgreSQL + Redis on loopback, distinct sign-ups posted from a second process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/2 \
        .venv/bin/python bench/subscribe_load.py [--signups 3000] [--concurrency 8] [--workers 2] [--threads 4]

The bench makes its own database (``bench_subscribe``, dropped and re-created) on the PostgreSQL server in
DATABASE_URL and uses the Redis database in REDIS_URL as broker and cache, with no Celery worker running, so every
enqueued confirmation stays in the ``transactional`` queue to be counted. It prints sign-ups/s and p50/p99 latency,
then checks that every address is stored exactly once and that exactly one confirmation was enqueued for each,
including after a second round that signs a sample of the same addresses up again (the hourly allowance must hold).
Goal (issue 3): >= 500 sign-ups/s with p99 < 100 ms on a 2-core machine.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.services import free_port, wait_for_port  # noqa: E402

BENCH_DB = "bench_subscribe"
QUEUE = "transactional"
CONFIRM_TASK = "subscribers.tasks.transactional.send_confirmation"
_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


# --- the client process ------------------------------------------------------------------------------------


def _client_thread(port: int, emails: list[str], latencies: list[float], errors: list[str]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/")
    response = conn.getresponse()
    page = response.read().decode()
    cookie = response.getheader("Set-Cookie", "").split(";")[0]
    token = _CSRF_INPUT.search(page).group(1)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": cookie,
        "Referer": f"http://127.0.0.1:{port}/",
    }
    for email in emails:
        body = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token, "email": email, "keywords": "llm, diffusion", "frequency": "daily"}
        )
        started = time.perf_counter()
        try:
            conn.request("POST", "/subscribe/", body=body, headers=headers)
            response = conn.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{email}: {exc!r}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        latencies.append(time.perf_counter() - started)
        if response.status != 200 or b"Check your inbox" not in content:
            errors.append(f"{email}: HTTP {response.status}")
        if response.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.close()


def run_client(port: int, emails: list[str], concurrency: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    shards = [emails[i::concurrency] for i in range(concurrency)]
    threads = [threading.Thread(target=_client_thread, args=(port, shard, latencies, errors)) for shard in shards]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"elapsed": time.perf_counter() - started, "latencies": latencies, "errors": errors}


# --- the orchestrating process -----------------------------------------------------------------------------


def _server_url(database_url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(database_url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def _recreate_database(database_url: str) -> str:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    return _server_url(database_url, BENCH_DB)


def _queued_confirmations(redis_client) -> tuple[list[bytes], dict[int, int]]:
    raw = redis_client.lrange(QUEUE, 0, -1)
    counts: dict[int, int] = {}
    mine: list[bytes] = []
    for item in raw:
        message = json.loads(item)
        if message.get("headers", {}).get("task") != CONFIRM_TASK:
            continue
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        counts[args[0]] = counts.get(args[0], 0) + 1
        mine.append(item)
    return mine, counts


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _report(label: str, result: dict, n: int) -> None:
    lat = result["latencies"]
    print(
        f"{label}: {n} sign-ups in {result['elapsed']:.2f}s = {n / result['elapsed']:.0f} sign-ups/s; "
        f"latency p50 {statistics.median(lat) * 1000:.1f} ms, p99 {_percentile(lat, 0.99) * 1000:.1f} ms, "
        f"max {max(lat) * 1000:.1f} ms; errors {len(result['errors'])}"
    )
    for error in result["errors"][:5]:
        print("   ", error)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signups", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--repeat-fraction", type=float, default=0.1, help="share of addresses signed up twice")
    parser.add_argument("--client", nargs=3, metavar=("PORT", "EMAILS_FILE", "CONCURRENCY"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.client:
        port, emails_file, concurrency = args.client
        emails = Path(emails_file).read_text().split()
        print(json.dumps(run_client(int(port), emails, int(concurrency))))
        return 0

    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith("postgres") or not redis_url:
        print("Set DATABASE_URL (a PostgreSQL server) and REDIS_URL (a Redis database this bench may use).")
        return 2
    import redis

    redis_client = redis.Redis.from_url(redis_url)
    if redis_client.llen(QUEUE):
        print(f"The {QUEUE!r} queue in {redis_url} is not empty: point REDIS_URL at a database of your own.")
        return 2

    port = free_port()
    bench_url = _recreate_database(database_url)
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
        # Every request comes from 127.0.0.1: lift the per-IP limit, keep the per-address one as deployed.
        "SUBSCRIBE_RATE_PER_IP": "10000000/h",
        "VAR_DIR": str(ROOT / "var" / "bench"),
    }
    env.pop("EMAIL_BACKEND", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)

    run_id = uuid.uuid4().hex[:8]
    emails = [f"bench-{run_id}-{i}@example.com" for i in range(args.signups)]
    repeats = emails[: int(len(emails) * args.repeat_fraction)]
    gunicorn = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "config.wsgi:application",
            "--bind", f"127.0.0.1:{port}",
            "--workers", str(args.workers),
            "--worker-class", "gthread",
            "--threads", str(args.threads),
            "--keep-alive", "5",
            "--log-level", "warning",
        ],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    mine: list[bytes] = []
    try:
        wait_for_port(port, timeout=30)
        workdir = ROOT / "var" / "bench"
        workdir.mkdir(parents=True, exist_ok=True)
        results = {}
        for label, batch in (("distinct", emails), ("repeat", repeats)):
            if not batch:
                continue
            emails_file = workdir / f"{label}-{run_id}.txt"
            emails_file.write_text("\n".join(batch))
            out = subprocess.run(
                [sys.executable, __file__, "--client", str(port), str(emails_file), str(args.concurrency)],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            emails_file.unlink()
            results[label] = json.loads(out)
            _report(label, results[label], len(batch))
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)

    import psycopg

    with psycopg.connect(bench_url) as conn:
        rows = conn.execute(
            "SELECT lower(email), count(*), min(id) FROM subscribers_subscriber WHERE email LIKE %s GROUP BY 1",
            (f"bench-{run_id}-%",),
        ).fetchall()
    ids = {row[2] for row in rows}
    mine, counts = _queued_confirmations(redis_client)
    stored_once = len(rows) == len(emails) and all(row[1] == 1 for row in rows)
    one_each = set(counts) == ids and all(count == 1 for count in counts.values())
    print(
        f"check: {len(rows)}/{len(emails)} addresses stored, each once: {stored_once}; "
        f"{sum(counts.values())} confirmations enqueued for {len(ids)} subscribers, exactly one each: {one_each}"
    )
    for item in mine:  # leave the queue as we found it
        redis_client.lrem(QUEUE, 1, item)
    return 0 if stored_once and one_each and not any(r["errors"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
