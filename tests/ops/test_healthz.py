"""/healthz against the real database and Redis: hard checks answer 503, soft ones "degraded"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from config.health import APP_CHECKS, BEAT_TICK_KEY, record_beat_tick
from config.tasks import WORKER_HEARTBEAT_KEY, heartbeat
from digest.models import Edition
from tests.support.services import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh(redis_url: str) -> None:
    cache.delete_many([BEAT_TICK_KEY, WORKER_HEARTBEAT_KEY])
    record_beat_tick(timezone.now())
    heartbeat.run()


def test_all_good(client: Client, fresh: None, postgres: None) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok", body
    assert body["checks"]["database"]["vendor"] == "postgresql"
    assert body["checks"]["broker"]["transport"] == "redis"
    assert set(body["checks"]["broker"]["queued"]) == {"transactional", "sending", "ingestion"}
    assert body["checks"]["beat"]["age_seconds"] < 5
    assert body["checks"]["edition"] == {"ok": True, "edition": None}
    assert response["Cache-Control"].startswith("max-age=0")


def test_queue_backlog_is_reported(client: Client, fresh: None, redis_url: str) -> None:
    import redis

    from config.celery import app

    broker = redis.Redis.from_url(app.conf.broker_url)
    broker.delete("sending")
    try:
        for _ in range(3):
            app.send_task("subscribers.tasks.sending.send_chunk", args=[0, []])
        assert client.get("/healthz").json()["checks"]["broker"]["queued"]["sending"] == 3
    finally:
        broker.delete("sending")


def test_broker_down_takes_the_instance_out(client: Client, fresh: None, settings) -> None:
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["broker"]["ok"] is False
    assert "Error" in body["checks"]["broker"]["error"]


def test_stale_beat_is_degraded_and_strict_pages(client: Client, fresh: None) -> None:
    record_beat_tick(timezone.now() - timedelta(minutes=11))
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["beat"]["ok"] is False
    assert client.get("/healthz?strict=1").status_code == 503


def test_never_ticked_beat_is_named(client: Client, fresh: None) -> None:
    cache.delete(BEAT_TICK_KEY)
    body = client.get("/healthz").json()
    assert body["checks"]["beat"] == {"ok": False, "error": "no beat tick recorded yet: is celery beat running?"}


def test_stale_heartbeat_shows_the_transactional_queue_is_not_consumed(client: Client, fresh: None) -> None:
    cache.set(WORKER_HEARTBEAT_KEY, (timezone.now() - timedelta(hours=1)).timestamp(), timeout=None)
    body = client.get("/healthz").json()
    assert body["status"] == "degraded"
    assert body["checks"]["transactional_queue"]["ok"] is False


def test_last_edition_status_and_a_stuck_send(client: Client, fresh: None) -> None:
    today = timezone.localdate()
    Edition.objects.create(date=today - timedelta(days=1), status=Edition.Status.SENT)
    stuck = Edition.objects.create(
        date=today, status=Edition.Status.SENDING, send_started_at=timezone.now() - timedelta(hours=3)
    )
    body = client.get("/healthz").json()
    assert body["checks"]["edition"]["date"] == today.isoformat()
    assert body["checks"]["edition"]["status"] == "sending"
    assert body["checks"]["edition"]["ok"] is False
    assert body["status"] == "degraded"
    Edition.objects.filter(pk=stuck.pk).update(status=Edition.Status.SENT)
    assert client.get("/healthz").json()["status"] == "ok"


def test_healthz_is_exempt_from_the_https_redirect(client: Client, fresh: None, settings) -> None:
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/editions/").status_code == 301


def test_a_check_that_crashes_is_reported_not_a_500(client: Client, fresh: None, monkeypatch) -> None:
    from django.db import DatabaseError

    def unmigrated() -> None:
        raise DatabaseError('relation "digest_edition" does not exist')

    monkeypatch.setitem(APP_CHECKS, "edition", unmigrated)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["edition"] == {
        "ok": False,
        "error": 'DatabaseError: relation "digest_edition" does not exist',
    }
    assert response.json()["status"] == "degraded"
