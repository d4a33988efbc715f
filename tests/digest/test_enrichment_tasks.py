"""The title lookup as it runs: queued when an ingest commits, retried when rate limited, swept by beat, run by hand."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError

from config.celery import app as celery_app
from digest.ingest import ingest_bytes
from digest.models import LookupStatus, Paper
from digest.tasks import ENRICH_MAX_RETRIES, enrich_papers, enrich_unresolved
from tests.digest.local_http import Route
from tests.digest.lookup_answers import ATOM, Entry, arxiv_feed, lookup_apis
from tests.factories import make_paper

pytestmark = pytest.mark.django_db

FIRST = "Folding Maps: Teaching Small Robots to Read Floor Plans"
SECOND = "Quiet Gradients for Loud Data"
BOTH = arxiv_feed(Entry("2603.04101", FIRST), Entry("2603.04102", SECOND))
PAGE = f"new\n\nSubscribe\n\nMar 3\n\n{FIRST}\n\nRobots read plans.\n\n{SECOND}\n\nGradients, quietly.\n".encode()


@pytest.fixture(autouse=True)
def own_cache(settings) -> None:
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}


@pytest.fixture
def eager() -> Iterator[None]:
    """Tasks run in-process when queued (and an eager retry runs at once, after the throttle's pause)."""
    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


def test_an_ingest_queues_lookups_for_its_papers_without_an_id_when_it_commits(
    eager: None, django_capture_on_commit_callbacks
) -> None:
    with lookup_apis(arxiv=Route(body=BOTH, content_type=ATOM)) as server:
        with django_capture_on_commit_callbacks(execute=False) as pending:
            ingest_bytes(PAGE, origin="page.txt")
        # Nothing asked before the commit: a rolled-back ingest leaves no lookups behind.
        assert server.requests == [] and len(pending) == 1
        assert set(Paper.objects.values_list("arxiv_id", flat=True)) == {None}
        pending[0]()

    assert dict(Paper.objects.values_list("title", "arxiv_id")) == {FIRST: "2603.04101", SECOND: "2603.04102"}
    assert len(server.requests) == 2


def test_papers_that_came_with_an_id_are_not_looked_up(django_capture_on_commit_callbacks) -> None:
    page = json.dumps([{"paper": {"id": "2603.04101", "title": FIRST}, "publishedAt": "2026-03-03T06:00:00Z"}])
    with lookup_apis(arxiv=Route(body=BOTH, content_type=ATOM)), django_capture_on_commit_callbacks() as pending:
        ingest_bytes(page.encode(), origin="api.json")
    assert pending == []


def test_with_lookups_off_an_ingest_queues_nothing(django_capture_on_commit_callbacks) -> None:
    assert (django_settings.ARXIV_API_URL, django_settings.HF_API_URL) == ("", "")  # the test settings' default
    with django_capture_on_commit_callbacks(execute=False) as pending:
        ingest_bytes(PAGE, origin="page.txt")
    assert pending == []


def test_a_rate_limited_task_is_retried_for_the_rest_and_loses_no_paper(caplog) -> None:
    papers = [make_paper(arxiv_id=None, title=title) for title in (FIRST, SECOND)]
    answers = [Route(status=429, body=b"", headers={"Retry-After": "1"}), Route(body=BOTH, content_type=ATOM)]
    with lookup_apis(arxiv=answers) as server, caplog.at_level(logging.INFO, logger="digest.tasks"):
        # Run as Celery's apply() runs it: the retry it asks for is run in turn (a worker would wait the countdown).
        result = enrich_papers.apply(args=([paper.pk for paper in papers],), throw=False)

    assert result.successful() and result.result == "2 found"
    # Both papers (the one that was refused among them) were carried into the retry, when the server said.
    assert any("2 papers retried in 1 s" in r.getMessage() for r in caplog.records)
    assert [p.arxiv_id for p in Paper.objects.order_by("pk")] == ["2603.04101", "2603.04102"]
    assert len(server.requests) == 3  # the 429, then one per paper


def test_a_task_out_of_retries_leaves_the_rest_for_beat(caplog) -> None:
    papers = [make_paper(arxiv_id=None, title=title) for title in (FIRST, SECOND)]
    down = Route(status=503, body=b"down", headers={"Retry-After": "30"})
    with lookup_apis(arxiv=down), caplog.at_level(logging.WARNING, logger="digest.tasks"):
        result = enrich_papers.apply(args=([p.pk for p in papers],), retries=ENRICH_MAX_RETRIES)

    assert result.successful() and result.result == "nothing to do"
    assert set(Paper.objects.values_list("arxiv_id", "lookup_status")) == {(None, LookupStatus.UNTRIED)}
    assert any("2 papers left for the next enrich_unresolved" in r.getMessage() for r in caplog.records)


def test_beat_sweeps_papers_still_unresolved(eager: None, django_capture_on_commit_callbacks) -> None:
    make_paper(arxiv_id=None, title=FIRST)
    make_paper(arxiv_id=None, title="Already known not to exist", lookup_status=LookupStatus.DUPLICATE)
    with lookup_apis(arxiv=Route(body=BOTH, content_type=ATOM)), django_capture_on_commit_callbacks(execute=True):
        assert enrich_unresolved() == 1

    assert Paper.objects.get(title=FIRST).arxiv_id == "2603.04101"
    assert django_settings.CELERY_BEAT_SCHEDULE["enrich-unresolved"]["task"] == enrich_unresolved.name


def test_beat_does_nothing_with_lookups_off() -> None:
    make_paper(arxiv_id=None, title=FIRST)
    assert enrich_unresolved() == 0


def test_the_command_looks_papers_up_now_one_line_each() -> None:
    first = make_paper(arxiv_id=None, title=FIRST)
    missing = make_paper(arxiv_id=None, title="Nobody Wrote This")
    out = io.StringIO()
    with lookup_apis(arxiv=Route(body=BOTH, content_type=ATOM)) as server:
        call_command("enrich_papers", stdout=out)
        assert f"paper {first.pk}: found (arXiv 2603.04101 on arXiv)" in out.getvalue()
        assert f"paper {missing.pk}: not found" in out.getvalue()
        assert "2 paper(s) looked up" in out.getvalue()

        # The miss is remembered; --fresh asks again.
        call_command("enrich_papers", "--paper", str(missing.pk), stdout=io.StringIO())
        assert len(server.requests) == 2
        call_command("enrich_papers", "--paper", str(missing.pk), "--fresh", stdout=io.StringIO())
        assert len(server.requests) == 3


def test_the_command_stops_at_a_rate_limit_and_says_what_is_left() -> None:
    papers = [make_paper(arxiv_id=None, title=title) for title in (FIRST, SECOND)]
    limited = Route(status=429, body=b"", headers={"Retry-After": "600"})
    left = r"stopped: arXiv: HTTP 429.*2 paper\(s\) left unchanged"
    with lookup_apis(arxiv=limited), pytest.raises(CommandError, match=left):
        call_command("enrich_papers", stdout=io.StringIO())
    assert {p.arxiv_id for p in Paper.objects.filter(pk__in=[p.pk for p in papers])} == {None}


def test_the_command_refuses_when_lookups_are_off() -> None:
    with pytest.raises(CommandError, match="title lookups are off"):
        call_command("enrich_papers", stdout=io.StringIO())
