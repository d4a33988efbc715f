"""The poll through a real Celery worker over Redis, against a local HTTP server."""

from __future__ import annotations

import time

import pytest

from digest.models import DigestDocument, Paper, Source
from digest.tasks import poll_sources
from tests.digest.local_http import Route, local_server

PAGE = b"Mar 3\n\nWorker Paper\n\nFetched by a worker.\n"


def _wait_for(condition, *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


@pytest.mark.realparts
@pytest.mark.django_db(transaction=True)
def test_poll_sources_through_a_real_worker(celery_process) -> None:
    with local_server({"/page": Route(body=PAGE, etag='"w1"')}) as server:
        source = Source.objects.create(name="worker-source", url=server.url("/page"))
        worker = celery_process("worker", "-Q", "ingestion", "--pool", "solo", "--loglevel", "INFO")
        poll_sources.delay()
        _wait_for(lambda: DigestDocument.objects.filter(source=source, status="parsed").exists())
        assert Paper.objects.get().title == "Worker Paper"

        poll_sources.delay()
        _wait_for(lambda: Source.objects.get(pk=source.pk).last_status == "not modified (304)")
        assert server.requests[-1][1].get("If-None-Match") == '"w1"'
        assert DigestDocument.objects.count() == 1
        assert "Traceback" not in worker.log()
