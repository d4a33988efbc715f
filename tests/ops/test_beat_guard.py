"""Two real ``celery beat`` processes on one Redis: only the lock holder schedules; the other takes over on a crash.

No worker runs, so every message beat publishes stays in the Redis list of its queue, where the test counts the
heartbeats (scheduled every second here).
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from config.celery import app
from config.routing import TRANSACTIONAL
from tests.support.services import CeleryProcess

HEARTBEAT = "config.tasks.heartbeat"
WINDOW = 6.0  # seconds of counting: about 6 heartbeats from one beat, about 12 from two


def heartbeats(client: redis.Redis) -> int:
    return sum(json.loads(raw)["headers"]["task"] == HEARTBEAT for raw in client.lrange(TRANSACTIONAL, 0, -1))


def count_over(client: redis.Redis, seconds: float) -> int:
    before = heartbeats(client)
    time.sleep(seconds)
    return heartbeats(client) - before


@pytest.fixture
def broker(redis_url: str) -> redis.Redis:
    client = redis.Redis.from_url(app.conf.broker_url)
    client.delete(TRANSACTIONAL)
    yield client
    client.delete(TRANSACTIONAL)


@pytest.fixture
def start_beat(celery_process: Callable[..., CeleryProcess], tmp_path: Path) -> Callable[..., CeleryProcess]:
    lock_key = f"test-beat-lock:{uuid.uuid4().hex}"

    def start(name: str, *extra: str) -> CeleryProcess:
        env = {"BEAT_HEARTBEAT_SECONDS": "1", "BEAT_LOCK_TTL": "3", "BEAT_LOCK_KEY": lock_key}
        # Each "host" keeps its own schedule file, as it would on its own disk.
        return celery_process("beat", "-l", "INFO", "-s", str(tmp_path / f"schedule-{name}"), *extra, env=env)

    return start


@pytest.mark.realparts
def test_two_beats_schedule_once_and_the_standby_takes_over(
    start_beat: Callable[..., CeleryProcess], broker: redis.Redis
) -> None:
    first = start_beat("a")
    first.wait_for_log("beat: leading", timeout=30)
    second = start_beat("b")
    second.wait_for_log("beat: standing by", timeout=30)

    both_running = count_over(broker, WINDOW)
    assert 3 <= both_running <= WINDOW + 2, f"{both_running} heartbeats in {WINDOW}s from two guarded beats"
    assert "beat: leading" not in second.log()

    # A crash: no clean release, so the standby must wait for the lock to expire (3 s) and then lead.
    first.kill(signal.SIGKILL)
    second.wait_for_log("beat: leading", timeout=15)
    after_takeover = count_over(broker, WINDOW)
    assert 3 <= after_takeover <= WINDOW + 2, f"{after_takeover} heartbeats in {WINDOW}s after the takeover"


@pytest.mark.realparts
def test_without_the_guard_two_beats_do_double_schedule(
    start_beat: Callable[..., CeleryProcess], broker: redis.Redis
) -> None:
    # The control for the test above: the same setup with Celery's plain scheduler shows what the lock prevents.
    plain = ("--scheduler", "celery.beat:PersistentScheduler")
    start_beat("a", *plain)
    start_beat("b", *plain)
    deadline = time.monotonic() + 30
    while heartbeats(broker) == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    both_running = count_over(broker, WINDOW)
    assert both_running >= 1.6 * WINDOW, f"only {both_running} heartbeats in {WINDOW}s from two unguarded beats"


def test_a_standby_keeps_in_step_with_the_leader_so_a_takeover_repeats_nothing(
    redis_url: str, tmp_path: Path, settings
) -> None:
    from datetime import UTC, datetime, timedelta

    from celery import Celery

    from config.beat import GuardedScheduler
    from config.health import record_beat_tick

    settings.BEAT_LOCK_KEY = f"test-beat-lock:{uuid.uuid4().hex}"
    scratch = Celery("guard-follow", set_as_current=False)
    scratch.conf.beat_schedule = {"hourly": {"task": "ops.test.hourly", "schedule": timedelta(hours=1)}}
    leader = GuardedScheduler(app=scratch, schedule_filename=str(tmp_path / "leader"))
    standby = GuardedScheduler(app=scratch, schedule_filename=str(tmp_path / "standby"))
    try:
        assert leader._lead() and not standby._lead()
        entry = standby.schedule["hourly"]
        # Left alone, the standby's entry would be overdue on takeover and fire a second time.
        entry.last_run_at = datetime.now(UTC) - timedelta(hours=2)
        assert entry.is_due().is_due
        # The leader ran it a minute ago and recorded that tick; the standby's next tick follows it.
        record_beat_tick(datetime.now(UTC) - timedelta(minutes=1))
        assert standby.tick() == standby.max_interval
        assert not standby.schedule["hourly"].is_due().is_due

        leader.close()  # a clean stop hands the lock over at once
        assert standby._lead()
    finally:
        standby.close()


def test_a_leader_cut_off_from_redis_leads_again_as_soon_as_redis_answers_with_its_lock(
    redis_url: str, tmp_path: Path, settings
) -> None:
    from celery import Celery

    from config.beat import GuardedScheduler

    settings.BEAT_LOCK_KEY = f"test-beat-lock:{uuid.uuid4().hex}"
    scratch = Celery("guard-resume", set_as_current=False)
    leader = GuardedScheduler(app=scratch, schedule_filename=str(tmp_path / "leader"))
    standby = GuardedScheduler(app=scratch, schedule_filename=str(tmp_path / "standby"))
    real_client = leader.lock.redis
    try:
        assert leader._lead()
        # Redis restarts: the leader's renewal fails, so it stops scheduling.
        leader.lock.redis = redis.Redis(port=1, socket_connect_timeout=0.2)
        assert not leader._lead() and not leader.leading
        # Redis is back with its data (the lock, this leader's token, not expired): it leads again at once, not
        # after BEAT_LOCK_TTL, and no other beat can take the lock meanwhile.
        leader.lock.redis = real_client
        assert not standby._lead()
        assert leader._lead() and leader.leading
        assert not standby._lead()

        # Had the lock expired and another beat taken it, the old leader stands by.
        leader.lock.redis = redis.Redis(port=1, socket_connect_timeout=0.2)
        assert not leader._lead()
        leader.lock.redis = real_client
        real_client.delete(settings.BEAT_LOCK_KEY)
        assert standby._lead()
        assert not leader._lead() and not leader.leading
    finally:
        leader.lock.redis = real_client
        standby.close()
        leader.close()
