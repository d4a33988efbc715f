"""Scale-out across "worker hosts": two network namespaces, one Celery worker in each, PostgreSQL, Redis and moto's
SES reached over veth pairs through a forwarder in the root namespace (the shared servers are not touched).

1. An edition to 20,000 subscribers is split across both hosts and each subscriber gets exactly one message.
2. A second edition: mid-send, host A's ESP traffic is held (a slow proxy) and then its link goes down. Host B's
   sweep settles A's dead claim from the send journal and finishes the edition; still exactly one message each.
   The message A had in flight never reached the ESP (the hold guarantees it), so it is the one ``ambiguous``
   delivery, and it is re-sent once.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from email.utils import parseaddr
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.utils import timezone

from config.celery import app as celery_app
from digest.models import Edition
from subscribers.delivery.body import clear_body_cache
from subscribers.delivery.operator import edition_send_prepare
from subscribers.models import Delivery, Subscriber
from subscribers.tasks.sending import enqueue_batches, sweep_deliveries
from tests.factories import make_edition, make_seen_paper
from tests.support.netns import Host, NamespacesUnavailable, hosts
from tests.support.services import ROOT, CeleryProcess, MotoSES, subprocess_env, unavailable

SUBSCRIBERS = int(os.environ.get("SCALE_OUT_SUBSCRIBERS", "20000"))
PG_PORT, REDIS_PORT, SES_PORT = 15432, 16379, 15000
ESP_TIMEOUT = 5  # seconds; the sweep calls a claim dead after STALL_SECONDS of journal silence
STALL_SECONDS = 12
SEND_TIMEOUT = 900  # seconds for one edition; a 2-core machine shared with other work is slow


@dataclass
class Forwarder:
    process: subprocess.Popen[str]
    lines: queue.Queue[str]

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def expect(self, text: str, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.lines.get(timeout=0.2) == text:
                    return
            except queue.Empty:
                continue
        raise TimeoutError(f"the forwarder did not say {text!r} within {timeout}s")


@pytest.fixture
def worker_hosts() -> Iterator[list[Host]]:
    try:
        with hosts(2) as made:
            yield made
    except NamespacesUnavailable as exc:
        unavailable(f"network namespaces cannot be made here: {exc}")


@pytest.fixture
def forwarder(worker_hosts: list[Host], ses: MotoSES) -> Iterator[Forwarder]:
    specs = []
    for host in worker_hosts:
        specs += [
            f"{host.netns}-pg={host.host_addr}:{PG_PORT}=127.0.0.1:5432",
            f"{host.netns}-redis={host.host_addr}:{REDIS_PORT}=127.0.0.1:6379",
            f"{host.netns}-ses={host.host_addr}:{SES_PORT}=127.0.0.1:{ses.port}",
        ]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.forward", *specs],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.strip())

    threading.Thread(target=read, daemon=True).start()
    forwarder = Forwarder(process=process, lines=lines)
    try:
        forwarder.expect("ready", timeout=30)
        yield forwarder
    finally:
        process.terminate()
        process.wait(timeout=30)


class NamespacedCelery(CeleryProcess):
    """A ``celery worker`` started inside a host's network namespace."""

    host: Host

    def start(self, *, ready_timeout: float = 60.0) -> CeleryProcess:
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            self.host.command(sys.executable, "-m", "celery", "-A", "config", *self.args),
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_for_log("ready.", timeout=ready_timeout)
        return self


@pytest.fixture
def start_worker(
    worker_hosts: list[Host], forwarder: Forwarder, ses: MotoSES, redis_url: str, tmp_path: Path
) -> Iterator[Callable[[Host], NamespacedCelery]]:
    started: list[NamespacedCelery] = []
    db_name = connection.settings_dict["NAME"]
    redis_db = redis_url.rsplit("/", 1)[-1]

    def start(host: Host) -> NamespacedCelery:
        env = subprocess_env(
            # Everything through this host's veth address: nothing reaches 127.0.0.1 from inside the namespace.
            database_url=f"postgres://postgres@{host.host_addr}:{PG_PORT}/{db_name}",
            redis_url=f"redis://{host.host_addr}:{REDIS_PORT}/{redis_db}",
            extra={
                **ses.env(),
                "AMAZON_SES_ENDPOINT_URL": f"http://{host.host_addr}:{SES_PORT}",
                "VAR_DIR": str(tmp_path / host.netns),
                "ESP_TIMEOUT": str(ESP_TIMEOUT),
                "SEND_STALL_SECONDS": str(STALL_SECONDS),
                "DATABASE_CONN_MAX_AGE": "600",
            },
        )
        worker = NamespacedCelery(
            args=[
                *("worker", "-Q", "sending", "-c", "1", "-n", f"{host.netns}@%h", "-l", "INFO"),
                *("--without-mingle", "--without-gossip"),
            ],
            env=env,
            log_path=tmp_path / f"{host.netns}.log",
        )
        worker.host = host
        started.append(worker)
        worker.start(ready_timeout=120)
        return worker

    yield start
    for worker in started:
        # A cut-off worker hangs on dead sockets: kill it rather than wait for a warm shutdown.
        worker.kill()
        worker.stop()


def sent_per_worker(worker: CeleryProcess) -> int:
    """What this worker's chunk tasks report as sent (Celery logs each task's return value)."""
    return sum(int(n) for n in re.findall(r"send_chunk\[[^\]]+\] succeeded in [^:]+: \{'sent': (\d+)", worker.log()))


def recipients(ses: MotoSES) -> Counter[str]:
    """Messages per address. moto lists a message's envelope recipients and then its To header again: one each."""
    return Counter(
        address
        for item in ses.raw_messages()
        for address in {parseaddr(destination)[1] for destination in item["destinations"]}
    )


def edition_for(day: date, subject: str) -> Edition:
    papers = [make_seen_paper(listed_date=day, upvotes=10 * i, title=f"Scale-out paper {i}") for i in range(5)]
    return make_edition(date=day, papers=papers, status=Edition.Status.APPROVED, subject=subject)


def start_send(edition: Edition) -> int:
    clear_body_cache()
    with transaction.atomic():
        batch = edition_send_prepare(edition=edition, now=timezone.now())
        return enqueue_batches([batch])


def wait_until(
    predicate: Callable[[], bool], *, timeout: float, what: str, every: Callable[[], None] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if every is not None:
            every()
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def sent_count(edition: Edition) -> int:
    return Delivery.objects.filter(edition=edition, status=Delivery.Status.SENT).count()


def finished(edition: Edition) -> bool:
    return Edition.objects.get(pk=edition.pk).status == Edition.Status.SENT


@pytest.mark.realparts
@pytest.mark.django_db(transaction=True)
def test_an_edition_scales_out_across_two_hosts_and_survives_losing_one(
    postgres: None,
    ses: MotoSES,
    worker_hosts: list[Host],
    forwarder: Forwarder,
    start_worker: Callable[[Host], NamespacedCelery],
    settings,
) -> None:
    # Chunks small enough that both hosts always have one to take (80 for 20,000 subscribers).
    settings.NEWSLETTER_SEND_CHUNK_SIZE = max(SUBSCRIBERS // 80, 10)
    celery_app.control.purge()
    Subscriber.objects.bulk_create(
        Subscriber(email=f"reader{n:06d}@example.org", status=Subscriber.Status.ACTIVE) for n in range(SUBSCRIBERS)
    )
    everyone = {f"reader{n:06d}@example.org" for n in range(SUBSCRIBERS)}
    host_a, host_b = worker_hosts
    worker_a, worker_b = start_worker(host_a), start_worker(host_b)

    # 1. Both hosts share one edition; exactly one message each.
    today = timezone.localdate()
    first = edition_for(today - timedelta(days=1), "Trending Papers: scale-out")
    chunks = start_send(first)
    assert chunks >= 4, "too few chunks to share between two hosts"
    wait_until(lambda: finished(first), timeout=SEND_TIMEOUT, what="the first edition to be sent")
    got = recipients(ses)
    assert set(got) == everyone
    assert max(got.values()) == 1
    share_a, share_b = sent_per_worker(worker_a), sent_per_worker(worker_b)
    assert share_a + share_b == SUBSCRIBERS
    assert min(share_a, share_b) >= SUBSCRIBERS // 10, f"one host idled: {share_a} / {share_b}"

    # 2. Mid-send, host A freezes inside an ESP call and drops off the network; host B finishes alone.
    ses.reset()
    second = edition_for(today, "Trending Papers: one host lost")
    start_send(second)
    wait_until(
        lambda: sent_count(second) >= SUBSCRIBERS // 4 and sent_per_worker(worker_a) > share_a,
        timeout=SEND_TIMEOUT,
        what="both hosts to be sending the second edition",
    )
    forwarder.send(f"hold {host_a.netns}-ses")
    forwarder.expect(f"held {host_a.netns}-ses", timeout=60)
    host_a.cut_off()
    before_cut = sent_per_worker(worker_a)
    # Beat would run the sweep every SEND_SWEEP_SECONDS; here the test plays beat, on the surviving host's queue.
    # Once per stall period: more often would only re-enqueue the rows still waiting in the queue behind B.
    last_sweep = [0.0]

    def sweep_now_and_then() -> None:
        if time.monotonic() - last_sweep[0] >= STALL_SECONDS:
            last_sweep[0] = time.monotonic()
            sweep_deliveries.delay()

    wait_until(
        lambda: finished(second),
        timeout=SEND_TIMEOUT,
        what="host B to finish the second edition",
        every=sweep_now_and_then,
    )
    got = recipients(ses)
    assert set(got) == everyone
    assert [address for address, count in got.items() if count != 1] == []
    assert sent_per_worker(worker_a) == before_cut, "host A sent after it was cut off"
    deliveries = Delivery.objects.filter(edition=second)
    assert deliveries.filter(status=Delivery.Status.SENT).count() == SUBSCRIBERS
    # The one message A had in flight: held before it reached the ESP, settled ambiguous, re-sent by B once.
    assert deliveries.filter(ambiguous_at__isnull=False).count() == 1
    assert "settled dead claim" in worker_b.log()
