"""The daily send through the real parts: PostgreSQL, Redis, celery worker and beat subprocesses, moto's SES.

Each fault test ends with the same demand: every active subscriber has exactly one message, nobody else has any.
The one exception is the test that kills the worker inside the ambiguous window (the ESP accepted, the answer never
came back): there the duplicates must be exactly the deliveries the sweep marked ambiguous.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from subscribers.models import Delivery, Subscriber
from subscribers.services import subscriber_unsubscribe
from subscribers.tasks.sending import newsletter_tick
from tests.e2e.conftest import World, assert_exactly_once, received, send_env, wait_until_settled

pytestmark = [pytest.mark.realparts, pytest.mark.django_db(transaction=True)]

WORKER = ("worker", "--concurrency=2", "-l", "INFO")
BEAT = ("beat", "-l", "INFO")


def test_beat_sends_each_active_subscriber_one_complete_email_and_a_second_firing_sends_none(
    world: World, ses, celery_process, postgres
) -> None:
    env = send_env(ses)
    celery_process(*WORKER, env=env)
    celery_process(*BEAT, env=env)

    wait_until_settled(len(world.active))

    messages = ses.messages()
    assert_exactly_once(ses, world)
    for message in messages:
        parts = [part.get_content_type() for part in message.walk()]
        assert "text/plain" in parts and "text/html" in parts, parts
        assert message["List-Unsubscribe"].count("<") == 2  # the https URL and the mailto
        assert "https://" in message["List-Unsubscribe"] or "http://" in message["List-Unsubscribe"]
        assert "mailto:" in message["List-Unsubscribe"]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # The same day, beat keeps firing (every 2 s) and the tick is fired by hand too: nobody gets a second one.
    newsletter_tick.delay()
    time.sleep(8)
    assert len(ses.raw_messages()) == len(world.active)


def test_beat_firing_twice_sends_once(world: World, ses, celery_process, postgres, tmp_path) -> None:
    env = send_env(ses)
    celery_process(*WORKER, env=env)
    # Two ticks at the same moment (two beats, a retried publish), plus two beat processes racing for the lead.
    newsletter_tick.delay()
    newsletter_tick.delay()
    celery_process(*BEAT, env=env)
    celery_process(*BEAT, env={**env, "VAR_DIR": str(tmp_path / "var-second-beat")})

    wait_until_settled(len(world.active))
    time.sleep(4)
    assert_exactly_once(ses, world)


def test_worker_killed_outside_the_ambiguous_window_every_subscriber_gets_exactly_one(
    world: World, ses, proxy, celery_process, postgres
) -> None:
    env = send_env(ses, endpoint=proxy.url)
    # After 300 messages the ESP "hangs" before accepting: both worker processes end up waiting on it.
    proxy.pass_then(300, "hold_requests")
    worker = celery_process(*WORKER, env=env)
    celery_process(*BEAT, env=env)
    proxy.wait_for_held(2)

    worker.kill()
    proxy.release()  # the held requests are dropped, never forwarded: moto did not get them
    celery_process(*WORKER, env=env)

    wait_until_settled(len(world.active))
    assert_exactly_once(ses, world)
    # The two messages in flight at the kill were unknown to the database, so they were marked ambiguous and (by
    # default, at-least-once) sent again: here the proxy had dropped them, so once is exactly once.
    assert Delivery.objects.filter(ambiguous_at__isnull=False).count() == 2


def test_worker_killed_inside_the_ambiguous_window_duplicates_only_the_ambiguous(
    world: World, ses, proxy, celery_process, postgres
) -> None:
    env = send_env(ses, endpoint=proxy.url)
    # After 300 messages moto accepts each message but the answer is held back: killed now, the worker never knew.
    proxy.pass_then(300, "hold_responses")
    worker = celery_process(*WORKER, env=env)
    celery_process(*BEAT, env=env)
    proxy.wait_for_held(2)

    worker.kill()
    proxy.release()
    celery_process(*WORKER, env=env)

    wait_until_settled(len(world.active))
    counts = received(ses)
    ambiguous = set(Delivery.objects.filter(ambiguous_at__isnull=False).values_list("subscriber__email", flat=True))
    assert len(ambiguous) == 2
    assert {email for email, n in counts.items() if n > 1} == ambiguous
    assert all(counts[email] == 2 for email in ambiguous)
    assert set(counts) == set(world.active)
    assert sum(counts.values()) == len(world.active) + len(ambiguous)


def test_redis_restarted_mid_send_every_subscriber_gets_exactly_one(
    world: World, ses, proxy, celery_process, own_redis, postgres
) -> None:
    # Worker, beat, cache and the send journal all on a Redis of this test's own, restarted empty mid-send.
    proxy.delay = 0.01
    env = send_env(ses, endpoint=proxy.url, REDIS_URL=own_redis.url)
    celery_process(*WORKER, env=env)
    beat = celery_process(*BEAT, env=env)
    deadline = time.monotonic() + 120
    while proxy.forwarded < 250:
        assert time.monotonic() < deadline, f"only {proxy.forwarded} forwarded"
        time.sleep(0.1)

    own_redis.kill()
    time.sleep(1)
    own_redis.start()
    time.sleep(3)
    if beat.process.poll() is not None:
        # As a process supervisor would (beat used to exit on a cache error during the outage; fixed in 15aec12).
        celery_process(*BEAT, env=env)

    wait_until_settled(len(world.active))
    assert_exactly_once(ses, world)
    assert not Delivery.objects.filter(ambiguous_at__isnull=False).exists()


def test_esp_answering_429_and_500_for_a_while_every_subscriber_gets_exactly_one(
    world: World, ses, proxy, celery_process, postgres
) -> None:
    proxy.fail([429, 500] * 15)
    env = send_env(ses, endpoint=proxy.url)
    celery_process(*WORKER, env=env)
    celery_process(*BEAT, env=env)

    wait_until_settled(len(world.active))
    assert_exactly_once(ses, world)
    assert proxy.failed == 30
    retried = Delivery.objects.filter(attempts__gt=1).count()
    assert 1 <= retried <= 30


def test_an_address_that_unsubscribes_between_fan_out_and_send_gets_nothing(
    world: World, ses, celery_process, postgres, settings
) -> None:
    settings.NEWSLETTER_SEND_HOUR = datetime.now(UTC).hour
    settings.NEWSLETTER_WINDOW_DAYS = 365
    settings.NEWSLETTER_SEND_CHUNK_SIZE = 100
    # Fan out here, with no worker running: the chunk tasks wait in Redis.
    newsletter_tick.apply()
    assert Delivery.objects.count() == len(world.active)
    leavers = world.active[::100]
    for subscriber in Subscriber.objects.filter(email__in=leavers):
        subscriber_unsubscribe(subscriber=subscriber, via="web")

    celery_process(*WORKER, env=send_env(ses))

    wait_until_settled(len(world.active) - len(leavers))
    counts = received(ses)
    assert set(counts) == set(world.active) - set(leavers)
    assert set(counts.values()) == {1}
    assert Delivery.objects.filter(status=Delivery.Status.SKIPPED).count() == len(leavers)
    edition = Delivery.objects.select_related("edition").first().edition
    assert edition.status == edition.Status.SENT
    assert edition.recipient_count == len(world.active) - len(leavers)
