"""Real-parts fixtures for the sending end-to-end and fault tests: seed pages, 1,040 subscribers, worker env."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.utils import timezone

from digest.ingest import ingest_bytes
from subscribers.models import Delivery, Subscriber
from tests.support.esp_proxy import EspProxy
from tests.support.services import MotoSES

ACTIVE, PENDING, UNSUBSCRIBED = 1000, 20, 20


@dataclass
class World:
    active: list[str]
    others: list[str]


def seed_world(shared_dir: Path, *, active: int = ACTIVE) -> World:
    """The seed pages ingested, and ``active`` active + 20 pending + 20 unsubscribed subscribers, committed."""
    for path in sorted((shared_dir / "seeds").iterdir()):
        ingest_bytes(path.read_bytes(), origin=str(path))
    now = timezone.now()

    def people(prefix: str, count: int, status: str) -> list[Subscriber]:
        return [
            Subscriber(email=f"{prefix}{n:04d}@example.org", status=status, status_changed_at=now, confirmed_at=now)
            for n in range(count)
        ]

    Subscriber.objects.bulk_create(
        people("active", active, Subscriber.Status.ACTIVE)
        + people("pending", PENDING, Subscriber.Status.PENDING)
        + people("gone", UNSUBSCRIBED, Subscriber.Status.UNSUBSCRIBED)
    )
    return world_of(active)


def world_of(active: int) -> World:
    """Who ``seed_world(active=...)`` made: the addresses that must get the edition, and those that must not."""
    return World(
        active=[f"active{n:04d}@example.org" for n in range(active)],
        others=[f"pending{n:04d}@example.org" for n in range(PENDING)]
        + [f"gone{n:04d}@example.org" for n in range(UNSUBSCRIBED)],
    )


@pytest.fixture
def world(shared_dir: Path, settings) -> World:
    """The seed pages ingested, and 1,000 active + 20 pending + 20 unsubscribed subscribers, committed."""
    return seed_world(shared_dir)


def send_env(ses: MotoSES, *, endpoint: str | None = None, **extra: str) -> dict[str, str]:
    """Worker/beat environment: SES through moto (or a proxy in front of it), due right now, fast beat and sweep."""
    env = ses.env()
    if endpoint:
        env["AMAZON_SES_ENDPOINT_URL"] = endpoint
    env.update(
        {
            "SEND_HOUR": str(datetime.now(UTC).hour),
            "SEND_TICK_SECONDS": "2",
            "SEND_SWEEP_SECONDS": "2",
            "SEND_STALL_SECONDS": "8",
            "ESP_TIMEOUT": "3",
            "SEND_RETRY_BACKOFF": "0.5",
            "SEND_CHUNK_SIZE": "100",
            # The seed pages are from March: a year-long window keeps their papers in today's edition.
            "TRENDING_WINDOW_DAYS": "365",
            "LOG_FORMAT": "plain",
        }
    )
    env.update(extra)
    return env


def wait_until_settled(expected: int, *, timeout: float = 240.0) -> None:
    """Until ``expected`` deliveries are accepted by the ESP and none is waiting or in flight."""
    deadline = time.monotonic() + timeout
    waiting = (Delivery.Status.QUEUED, Delivery.Status.SENDING, Delivery.Status.AMBIGUOUS)
    while time.monotonic() < deadline:
        counts = Counter(Delivery.objects.values_list("status", flat=True))
        if counts[Delivery.Status.SENT] >= expected and not any(counts[s] for s in waiting):
            return
        time.sleep(0.5)
    raise TimeoutError(f"deliveries did not settle: {dict(Counter(Delivery.objects.values_list('status', flat=True)))}")


def received(ses: MotoSES) -> Counter[str]:
    return Counter(message["To"] for message in ses.messages())


def assert_exactly_once(ses: MotoSES, world: World) -> None:
    counts = received(ses)
    assert not set(counts) & set(world.others), "a pending or unsubscribed address got the edition"
    assert [email for email, n in counts.items() if n > 1] == [], "someone got the edition twice"
    assert set(world.active) - set(counts) == set(), "an active subscriber got nothing"
    assert sum(counts.values()) == len(world.active)


@pytest.fixture
def proxy(ses: MotoSES) -> Iterator[EspProxy]:
    server = EspProxy(upstream=ses.url).start()
    yield server
    server.stop()
