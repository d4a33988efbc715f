"""ESP_RATE_LIMIT against a stand-in ESP: two worker processes, one shared token bucket, the rate the ESP sees.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/5 BENCH_DB=bench_rate \\
        .venv/bin/python bench/esp_rate.py [--rates 50,500] [--seconds 25] [--workers 2]

A local HTTP server stands in for Mailgun's API (Anymail's Mailgun backend pointed at it with
``MAILGUN_API_URL``): it accepts every message at once, at any rate, and records when each arrived. For each rate
R it starts ``--workers`` ``celery worker --pool solo`` processes with ``ESP_RATE_LIMIT=R``, queues an edition to
more subscribers than R x ``--seconds`` (the send is still going when the window closes, so the window measures
the steady state), and stops the workers ``--seconds`` after the first ``--warmup`` seconds (each worker's first
chunk renders the edition and loads the personalisation), which are not counted. It prints the arrivals in each
whole second of the window, the worst second, the most in any sliding one-second interval, the mean and its ratio
to R. The database (``BENCH_DB`` on DATABASE_URL's server, default ``bench_scale``) is dropped at the end.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.scale import (  # noqa: E402
    database_urls,
    drop_database,
    fill_subscribers,
    make_papers,
    new_edition,
    recreate_database,
    start_workers,
    stop_workers,
)


def serve(port: int) -> None:
    """The stand-in ESP: Mailgun's messages call answered at once; GET /arrivals returns (and clears) the
    timestamps."""
    arrivals: list[float] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as requests' session uses it
        # Headers and body leave in two writes: with Nagle's algorithm on, each answer would wait for the client's
        # delayed ACK (40 ms), and the ESP, not the limiter, would set the rate.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            at = time.time()
            self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                arrivals.append(at)
            self._answer({"id": f"<{uuid.uuid4().hex}@example.org>", "message": "Queued. Thank you."})

        def do_GET(self) -> None:
            with lock:
                taken = arrivals[:]
                arrivals.clear()
            self._answer(taken)

        def _answer(self, payload: object) -> None:
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def arrivals(port: int) -> list[float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/arrivals", timeout=30) as response:
        return sorted(json.loads(response.read()))


def measure(
    *, rate: float, day: date, seconds: int, warmup: int, workers: int, env: dict[str, str], port: int, log_dir: Path
) -> list[float]:
    """Send an edition with ``ESP_RATE_LIMIT=rate``; the arrival times of ``seconds`` seconds after the first
    ``warmup`` seconds (each worker's first chunk renders the edition body and loads the personalisation)."""
    from django.db import transaction
    from django.utils import timezone

    from config.celery import app
    from subscribers.delivery.operator import edition_send_prepare
    from subscribers.tasks.sending import enqueue_batches

    arrivals(port)  # clear
    edition = new_edition(day)
    processes = start_workers(workers, {**env, "ESP_RATE_LIMIT": str(rate)}, log_dir)
    try:
        with transaction.atomic():
            enqueue_batches([edition_send_prepare(edition=edition, now=timezone.now())])
        seen: list[float] = []
        deadline = time.monotonic() + warmup + seconds + 60
        while time.monotonic() < deadline:
            time.sleep(1)
            seen += arrivals(port)
            if seen and seen[-1] - seen[0] >= warmup + seconds:
                break
            if any(p.poll() is not None for p in processes):
                sys.exit(f"a worker exited; see {log_dir}")
    finally:
        stop_workers(processes)
        app.control.purge()
    if not seen:
        sys.exit(f"nothing reached the stand-in ESP; see {log_dir}")
    start = seen[0] + warmup
    return [at for at in seen if start <= at < start + seconds]


def report(rate: float, times: list[float], seconds: int) -> None:
    start = times[0]
    per_second = [0] * seconds
    for at in times:
        per_second[min(int(at - start), seconds - 1)] += 1
    # The strictest reading: the most arrivals in any interval [t, t + 1 s), t anywhere.
    sliding = max(bisect.bisect_left(times, at + 1.0) - index for index, at in enumerate(times))
    mean = len(times) / seconds
    print(f"ESP_RATE_LIMIT={rate:g}: {len(times)} messages in {seconds} s")
    print(f"  per second: {' '.join(str(n) for n in per_second)}")
    print(
        f"  worst second {max(per_second)} (fewest {min(per_second)}), most in any sliding second {sliding}, "
        f"mean {mean:.1f}/s = {mean / rate:.3f} x R",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="50,500")
    parser.add_argument("--seconds", type=int, default=25)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=5, help="seconds after the first arrival not counted")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the stand-in ESP's own process
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    rates = [float(r) for r in args.rates.split(",")]
    server_url, bench_url = database_urls(os.environ.get("DATABASE_URL", ""))
    redis_url = os.environ.get("REDIS_URL") or sys.exit("bench/esp_rate.py needs Redis: set REDIS_URL")
    tmp = Path(tempfile.mkdtemp(prefix="bench-esp-rate-"))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "EMAIL_BACKEND"},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": bench_url,
        "REDIS_URL": redis_url,
        "VAR_DIR": str(tmp / "var"),
        "SITE_URL": "https://papers.example.org",
        "DEBUG": "false",  # as in production (with DEBUG on, Django keeps every process's last 9,000 queries)
        "SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "ESP": "mailgun",
        "MAILGUN_API_KEY": "bench",
        "MAILGUN_SENDER_DOMAIN": "example.org",
        "MAILGUN_API_URL": f"http://127.0.0.1:{port}/v3",
        "DEFAULT_FROM_EMAIL": "Trending Papers <papers@example.org>",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    os.environ.clear()
    os.environ.update(env)
    esp = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], cwd=ROOT, start_new_session=True)
    recreate_database(server_url)
    try:
        import django

        django.setup()
        from django.core.management import call_command

        from config.celery import app

        call_command("migrate", verbosity=0)
        app.control.purge()
        fill_subscribers(int(max(rates) * (args.warmup + args.seconds) * 1.5))
        make_papers(date.today())
        for index, rate in enumerate(rates):
            day = date.today() - timedelta(days=index)
            times = measure(
                rate=rate,
                day=day,
                seconds=args.seconds,
                warmup=args.warmup,
                workers=args.workers,
                env=env,
                port=port,
                log_dir=tmp,
            )
            report(rate, times, args.seconds)
        print(f"{args.workers} worker processes, {os.cpu_count()} CPUs; logs in {tmp}")
    finally:
        from django.db import connections

        connections.close_all()
        esp.terminate()
        esp.wait(timeout=10)
        drop_database(server_url)


if __name__ == "__main__":
    main()
