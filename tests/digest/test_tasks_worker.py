"""The poll through a real Celery worker over Redis, against a local HTTP server."""

from __future__ import annotations

import time
import uuid

import pytest

from digest.ingest import ingest_bytes
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


@pytest.mark.realparts
@pytest.mark.django_db(transaction=True)
def test_an_ingest_gets_its_papers_resolved_by_a_real_worker_through_a_429(celery_process, settings) -> None:
    from tests.digest.lookup_answers import ARXIV_PATH, ATOM, Entry, arxiv_feed

    # Titles of this run only: the worker's cache remembers answers for a month.
    run = uuid.uuid4().hex[:8]
    titles = [f"Folding Maps {run}: Small Robots Read Floor Plans", f"Quiet Gradients {run} for Loud Data"]
    feed = arxiv_feed(Entry("2603.04101", titles[0]), Entry("2603.04102", titles[1]))
    answers = [Route(status=429, body=b"", headers={"Retry-After": "1"}), Route(body=feed, content_type=ATOM)]
    page = f"Mar 3\n\n{titles[0]}\n\nRobots.\n\n{titles[1]}\n\nGradients.\n".encode()
    with local_server({ARXIV_PATH: answers}) as server:
        settings.ARXIV_API_URL = server.url(ARXIV_PATH)  # this process decides whether to queue the lookups
        worker = celery_process(
            "worker",
            "-Q",
            "ingestion",
            "--pool",
            "solo",
            env={"ARXIV_API_URL": server.url(ARXIV_PATH), "HF_API_URL": "", "ENRICH_ARXIV_INTERVAL": "0"},
        )
        ingest_bytes(page, origin="worker-page.txt")  # commits, then queues one lookup task

        _wait_for(lambda: Paper.objects.filter(arxiv_id__isnull=False).count() == 2)
        assert dict(Paper.objects.values_list("title", "arxiv_id")) == {
            titles[0]: "2603.04101",
            titles[1]: "2603.04102",
        }
        assert len(server.requests) == 3  # refused once, then one request per paper
        assert "retried in 1 s" in worker.log()
        assert "Traceback" not in worker.log()
