"""A worker keeps its database connection from task to task (DATABASE_CONN_MAX_AGE), and replaces a broken one.

Celery's Django fixup closes every connection after every task unless ``CELERY_DB_REUSE_MAX`` is set, so each chunk
of a send paid for a new PostgreSQL backend (its fork, its login, its cold caches). config.settings sets it when
connections are kept, and config.celery closes old or broken ones before each task, as Django does per request.
"""

from __future__ import annotations

import time
import uuid

import pytest
from django.db import connection

from digest.tasks import poll_sources
from tests.support.services import database_url_for


def _start_worker(celery_process, **env: str):
    """A worker whose connections name themselves (``application_name``), so other processes' are left out."""
    name = f"worker-{uuid.uuid4().hex[:12]}"
    url = f"{database_url_for(connection.settings_dict)}?application_name={name}"
    worker = celery_process(
        "worker", "-Q", "ingestion", "--pool", "solo", "--loglevel", "INFO", env={"DATABASE_URL": url, **env}
    )
    return worker, name


def _backends(name: str) -> set[int]:
    """The PostgreSQL backends the worker called ``name`` holds on this test's database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s", [name]
        )
        return {pid for (pid,) in cursor.fetchall()}


def _wait_for_tasks(worker, count: int, *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while worker.log().count("digest.tasks.poll_sources") < 2 * count:  # "received" and "succeeded" lines
        if time.monotonic() > deadline:
            raise AssertionError(f"the worker did not finish {count} tasks:\n{worker.log()[-3000:]}")
        time.sleep(0.1)
    time.sleep(0.2)  # the task's postrun handlers run after its "succeeded" line


@pytest.mark.realparts
@pytest.mark.django_db(transaction=True)
def test_a_worker_reuses_its_connection_and_replaces_one_the_database_dropped(postgres, celery_process) -> None:
    worker, name = _start_worker(celery_process)
    poll_sources.delay()
    _wait_for_tasks(worker, 1)
    # Idle after its task, the worker still holds its connection (Celery alone would have closed it)...
    first = _backends(name)
    assert len(first) == 1, first
    for _ in range(3):
        poll_sources.delay()
    _wait_for_tasks(worker, 4)
    # ...and the next tasks ran on that same backend.
    assert _backends(name) == first

    # The database drops the connection (a restart, an idle timeout): the next task checks it, opens a new one and
    # succeeds instead of failing on the dead one.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [next(iter(first))])
    poll_sources.delay()
    _wait_for_tasks(worker, 5)
    second = _backends(name)
    assert len(second) == 1 and second != first
    assert worker.log().count("succeeded") == 5
    assert "Traceback" not in worker.log()


@pytest.mark.realparts
@pytest.mark.django_db(transaction=True)
def test_with_conn_max_age_zero_a_worker_opens_a_connection_per_task(postgres, celery_process) -> None:
    worker, name = _start_worker(celery_process, DATABASE_CONN_MAX_AGE="0")
    poll_sources.delay()
    _wait_for_tasks(worker, 1)
    assert _backends(name) == set()
    assert "Traceback" not in worker.log()
