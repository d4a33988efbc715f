from __future__ import annotations

import time
from datetime import date

import pytest

from digest.fetch import fetch_source
from digest.http import FetchError, fetch_url
from digest.ingest import IngestStatus
from digest.models import DigestDocument, Paper, Source
from digest.tasks import fetch_source_task, poll_sources
from tests.digest.local_http import Route, local_server

PAGE = b"new\n\nMar 3\n\nPolled Paper\n\nFetched over HTTP.\n\nAnother Paper\n\nAlso fetched.\n"
LAST_MODIFIED = "Tue, 03 Mar 2026 08:00:00 GMT"


def test_fetch_url_returns_body_and_validators() -> None:
    with local_server({"/p": Route(body=PAGE, etag='"v1"', last_modified=LAST_MODIFIED)}) as server:
        result = fetch_url(server.url("/p"))
        assert (result.status_code, result.content, result.etag, result.last_modified) == (
            200,
            PAGE,
            '"v1"',
            LAST_MODIFIED,
        )
        assert fetch_url(server.url("/p"), etag='"v1"').not_modified
        assert fetch_url(server.url("/p"), last_modified=LAST_MODIFIED).content is None
        assert server.requests[1][1]["If-None-Match"] == '"v1"'
        assert server.requests[2][1]["If-Modified-Since"] == LAST_MODIFIED


@pytest.mark.parametrize("chunked", [False, True])
def test_fetch_url_caps_the_size_while_streaming(settings, chunked: bool) -> None:
    settings.INGEST_MAX_BYTES = 64 * 1024
    big = Route(body=b"x" * (3 * 1024 * 1024), chunked=chunked)
    with local_server({"/big": big}) as server, pytest.raises(FetchError, match="INGEST_MAX_BYTES cap of 65,536"):
        fetch_url(server.url("/big"))


def test_fetch_url_times_out(settings) -> None:
    settings.INGEST_FETCH_TIMEOUT = 0.3
    with local_server({"/slow": Route(body=PAGE, delay=5)}) as server:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"timed out after 0\.3 s"):
            fetch_url(server.url("/slow"))
        assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("url", "reason"),
    [("ftp://example.org/x", "not an http"), ("file:///etc/passwd", "not an http"), ("http://", "not an http")],
)
def test_fetch_url_refuses_other_schemes(url: str, reason: str) -> None:
    with pytest.raises(FetchError, match=reason):
        fetch_url(url)


def test_fetch_url_reports_http_errors_and_refused_connections() -> None:
    with local_server({}) as server:
        with pytest.raises(FetchError, match="HTTP 404"):
            fetch_url(server.url("/missing"))
        port = server.port
    with pytest.raises(FetchError, match="could not connect"):
        fetch_url(f"http://127.0.0.1:{port}/gone")


@pytest.mark.django_db
def test_fetch_source_honours_etag_and_last_modified() -> None:
    with local_server({"/p": Route(body=PAGE, etag='"v1"', last_modified=LAST_MODIFIED)}) as server:
        source = Source.objects.create(name="local", url=server.url("/p"))
        result = fetch_source(source, today=date(2026, 6, 1))
        assert result is not None and result.status == IngestStatus.CREATED
        source.refresh_from_db()
        assert (source.etag, source.last_modified, source.last_error) == ('"v1"', LAST_MODIFIED, "")
        assert source.last_status.startswith("created") and source.last_fetched_at is not None
        assert DigestDocument.objects.get().source == source

        assert fetch_source(source) is None  # 304: nothing ingested
        source.refresh_from_db()
        assert source.last_status == "not modified (304)"
        assert server.requests[-1][1]["If-None-Match"] == '"v1"'
        assert server.requests[-1][1]["If-Modified-Since"] == LAST_MODIFIED
        assert (DigestDocument.objects.count(), Paper.objects.count()) == (1, 2)


@pytest.mark.django_db
def test_fetch_source_records_failures(settings) -> None:
    settings.INGEST_FETCH_TIMEOUT = 0.3
    with local_server({"/slow": Route(body=PAGE, delay=5), "/junk": Route(body=b"\x00\x01" * 100)}) as server:
        slow = Source.objects.create(name="slow", url=server.url("/slow"))
        result = fetch_source(slow)
        assert result is not None and result.failed and "timed out" in result.error
        slow.refresh_from_db()
        assert (slow.last_status, slow.etag) == ("fetch failed", "")
        assert "timed out" in slow.last_error

        junk = Source.objects.create(name="junk", url=server.url("/junk"))
        fetch_source(junk)
        junk.refresh_from_db()
        assert "binary data" in junk.last_error
        assert DigestDocument.objects.get().status == DigestDocument.Status.FAILED


@pytest.mark.django_db
def test_poll_sources_fans_out_to_enabled_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    enqueued: list[int] = []
    # Called directly here (a real worker runs it in test_tasks_worker.py): record the fan-out, then run each task.
    monkeypatch.setattr(fetch_source_task, "delay", enqueued.append)
    with local_server({"/a": Route(body=PAGE, etag='"a"'), "/b": Route(body=PAGE + b"\nThird\n\nMore.\n")}) as server:
        a = Source.objects.create(name="a", url=server.url("/a"))
        b = Source.objects.create(name="b", url=server.url("/b"))
        Source.objects.create(name="off", url=server.url("/a"), enabled=False)
        assert poll_sources() == 2
        assert enqueued == [a.pk, b.pk]
        for source_id in enqueued:
            assert fetch_source_task(source_id).startswith("created")
        assert fetch_source_task(a.pk) == "not modified"
        assert fetch_source_task(b.pk).startswith("unchanged")  # no validators: same bytes, nothing new
        assert fetch_source_task(10**9) == "skipped: source disabled or gone"
    assert DigestDocument.objects.count() == 2
    assert Paper.objects.count() == 3
