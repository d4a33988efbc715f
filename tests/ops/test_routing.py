"""Queues and routing: transactional, sending and ingestion tasks land on their own queues in the real broker."""

from __future__ import annotations

import json
import types

import pytest
from celery import Celery

from config.celery import app
from config.routing import INGESTION, SENDING, TRANSACTIONAL, queue_for


@pytest.fixture(scope="module")
def tasks() -> dict[str, object]:
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def _queue_of(name: str, task: object = None, **options: object) -> str:
    route = app.amqp.router.route(dict(options), name, task_type=task)
    return route["queue"].name


def test_every_project_task_has_the_queue_of_its_module(tasks: dict[str, object]) -> None:
    expected_by_prefix = {
        "subscribers.tasks.sending.": SENDING,
        "subscribers.tasks.transactional.": TRANSACTIONAL,
        "subscribers.tasks.clicks.": TRANSACTIONAL,
        "subscribers.tasks.counts.": TRANSACTIONAL,
        "subscribers.tasks.profiles.": INGESTION,
        "digest.": INGESTION,
        "config.tasks.": TRANSACTIONAL,
    }
    seen = set()
    for name, task in tasks.items():
        module = type(task).__module__
        expected = next((q for prefix, q in expected_by_prefix.items() if f"{module}.".startswith(prefix)), None)
        assert expected is not None, f"{name} (module {module}) is not covered by a routing rule"
        assert _queue_of(name, task) == expected, name
        seen.add(expected)
    # Every kind of task has landed; this fails if discovery silently found nothing.
    assert {TRANSACTIONAL, INGESTION, SENDING} <= seen


def test_a_new_task_is_routed_by_its_module_without_edits() -> None:
    scratch = Celery("scratch", set_as_current=False)
    module = types.ModuleType("subscribers.tasks.sending")

    @scratch.task(name="renamed_out_of_pattern")
    def some_future_send_task() -> None:
        return None

    # Celery's task class takes the function's module; a task renamed freely still routes by where it lives.
    type(some_future_send_task).__module__ = module.__name__
    assert _queue_of("renamed_out_of_pattern", some_future_send_task) == SENDING


def test_names_alone_route_when_the_caller_lacks_the_task() -> None:
    # send_task("...") from a process that never imported the module: the name's module part decides.
    assert _queue_of("subscribers.tasks.sending.send_chunk") == SENDING
    assert _queue_of("subscribers.tasks.transactional.send_confirmation") == TRANSACTIONAL
    assert _queue_of("digest.tasks.fetch_source") == INGESTION
    assert _queue_of("subscribers.tasks.clicks.drain_clicks") == TRANSACTIONAL
    assert _queue_of("somebody.elses.task") == INGESTION  # never the confirmation queue
    assert _queue_of("subscribers.tasks.sending.send_chunk", queue=TRANSACTIONAL) == TRANSACTIONAL


def test_queue_for_prefers_the_module_over_the_name() -> None:
    assert queue_for(module="subscribers.tasks.transactional", name="digest.looks_like_ingestion") == TRANSACTIONAL
    assert queue_for(module=None, name="digest.looks_like_ingestion") == INGESTION


def test_messages_land_on_separate_redis_queues(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(app.conf.broker_url)
    assert app.conf.broker_url == redis_url
    queues = (TRANSACTIONAL, SENDING, INGESTION)
    client.delete(*queues)
    try:
        app.send_task("subscribers.tasks.transactional.send_confirmation", args=[1])
        app.send_task("subscribers.tasks.sending.send_chunk", args=[1, [1, 2]])
        app.send_task("digest.tasks.poll_sources")
        landed = {
            queue: [json.loads(raw)["headers"]["task"] for raw in client.lrange(queue, 0, -1)] for queue in queues
        }
    finally:
        client.delete(*queues)
    assert landed == {
        TRANSACTIONAL: ["subscribers.tasks.transactional.send_confirmation"],
        SENDING: ["subscribers.tasks.sending.send_chunk"],
        INGESTION: ["digest.tasks.poll_sources"],
    }


def test_workers_take_one_task_at_a_time_and_emit_events_for_flower() -> None:
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_acks_late is True
    assert app.conf.worker_send_task_events is True
    # Producers (the web) publish no extra "task-sent" event per task: workers' events are what Flower reads.
    assert app.conf.task_send_sent_event is False
