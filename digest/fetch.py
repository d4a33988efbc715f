"""Fetching digest pages over HTTP: a bounded GET (time and size), and polling a Source with a conditional GET."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils import timezone

from digest.ingest import IngestResult, IngestStatus, ingest_bytes
from digest.models import Source


class FetchError(Exception):
    """A URL could not be fetched: refused, timed out, too large, or an HTTP error. The message says which."""


@dataclass
class FetchResult:
    url: str
    status_code: int
    content: bytes | None  # None when the server answered 304 Not Modified
    etag: str = ""
    last_modified: str = ""

    @property
    def not_modified(self) -> bool:
        return self.status_code == 304


def fetch_url(url: str, *, etag: str = "", last_modified: str = "") -> FetchResult:
    """GET ``url`` within INGEST_FETCH_TIMEOUT seconds in all and INGEST_MAX_BYTES, conditionally when given
    the validators of an earlier fetch. Raises FetchError with the reason."""
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise FetchError(f"not an http(s) URL: {url}")
    timeout = settings.INGEST_FETCH_TIMEOUT
    cap = settings.INGEST_MAX_BYTES
    headers = {"User-Agent": f"{settings.NEWSLETTER_NAME} digest fetcher", "Accept": "*/*"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    # requests' timeout bounds each socket wait; the deadline bounds the whole download (a server that trickles).
    deadline = time.monotonic() + timeout
    try:
        with requests.get(url, headers=headers, timeout=timeout, stream=True) as response:
            if response.status_code == 304:
                return FetchResult(url=url, status_code=304, content=None, etag=etag, last_modified=last_modified)
            if response.status_code >= 400:
                raise FetchError(f"HTTP {response.status_code} {response.reason or ''} from {url}".rstrip())
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > cap:
                raise FetchError(f"{url} is {int(declared):,} bytes, over the INGEST_MAX_BYTES cap of {cap:,}")
            chunks: list[bytes] = []
            received = 0
            for chunk in response.iter_content(chunk_size=65536):
                received += len(chunk)
                if received > cap:
                    raise FetchError(f"{url} sent more than the INGEST_MAX_BYTES cap of {cap:,} bytes")
                if time.monotonic() > deadline:
                    raise FetchError(f"timed out after {timeout:g} s fetching {url}")
                chunks.append(chunk)
            return FetchResult(
                url=url,
                status_code=response.status_code,
                content=b"".join(chunks),
                etag=response.headers.get("ETag", ""),
                last_modified=response.headers.get("Last-Modified", ""),
            )
    except requests.Timeout:
        raise FetchError(f"timed out after {timeout:g} s fetching {url}") from None
    except requests.ConnectionError as exc:
        # A read timeout while streaming surfaces as a ConnectionError wrapping urllib3's ReadTimeoutError.
        if "timed out" in str(exc).lower():
            raise FetchError(f"timed out after {timeout:g} s fetching {url}") from None
        raise FetchError(f"could not connect to {url}: {exc}") from None
    except requests.RequestException as exc:
        raise FetchError(f"could not fetch {url}: {exc}") from None


def fetch_source(source: Source, *, today: date | None = None) -> IngestResult | None:
    """Poll one Source with a conditional GET; None when the server says nothing changed (304)."""
    now = timezone.now()
    sources = Source.objects.filter(pk=source.pk)
    try:
        fetched = fetch_url(source.url, etag=source.etag, last_modified=source.last_modified)
    except FetchError as exc:
        sources.update(last_fetched_at=now, last_status="fetch failed", last_error=str(exc))
        return IngestResult(status=IngestStatus.FAILED, origin=source.url, error=str(exc))
    if fetched.not_modified or fetched.content is None:
        sources.update(last_fetched_at=now, last_status="not modified (304)", last_error="")
        return None
    result = ingest_bytes(fetched.content, origin=source.url, format=source.format, today=today, source=source)
    # The validators are kept even when parsing failed: the raw page is stored, and fetching the same bytes
    # again would not parse any better; a parser fix re-parses it from the database.
    sources.update(
        etag=fetched.etag[:300],
        last_modified=fetched.last_modified[:100],
        last_fetched_at=now,
        last_status=result.describe()[:200],
        last_error=result.error,
    )
    return result
