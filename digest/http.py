"""Fetching a URL politely and within limits: one GET with a total deadline, a size cap and conditional headers.

Used to poll digest pages (``digest.fetch.fetch_source``) and to ask the title-lookup APIs (``digest.lookups``).
Every failure is a ``FetchError`` whose message an operator can act on; ``transient`` says whether asking again
later could help.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils import timezone


class FetchError(Exception):
    """A URL could not be fetched: refused, timed out, too large, or an HTTP error. The message says which.

    ``transient`` marks what is worth trying again later (a timeout, no connection, HTTP 429 or 5xx), with the
    server's ``Retry-After`` in seconds when it sent one.
    """

    def __init__(
        self, message: str, *, status: int | None = None, transient: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.transient = transient
        self.retry_after = retry_after


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


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number of seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - timezone.now()).total_seconds()) if when.tzinfo else None


def fetch_url(url: str, *, etag: str = "", last_modified: str = "", timeout: float | None = None) -> FetchResult:
    """GET ``url`` within ``timeout`` (default INGEST_FETCH_TIMEOUT) seconds in all and INGEST_MAX_BYTES,
    conditionally when given the validators of an earlier fetch. Raises FetchError with the reason."""
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise FetchError(f"not an http(s) URL: {url}")
    timeout = timeout or settings.INGEST_FETCH_TIMEOUT
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
                raise FetchError(
                    f"HTTP {response.status_code} {response.reason or ''} from {url}".rstrip(),
                    status=response.status_code,
                    transient=response.status_code in (408, 429) or response.status_code >= 500,
                    retry_after=_retry_after(response.headers.get("Retry-After")),
                )
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
                    raise FetchError(f"timed out after {timeout:g} s fetching {url}", transient=True)
                chunks.append(chunk)
            return FetchResult(
                url=url,
                status_code=response.status_code,
                content=b"".join(chunks),
                etag=response.headers.get("ETag", ""),
                last_modified=response.headers.get("Last-Modified", ""),
            )
    except requests.Timeout:
        raise FetchError(f"timed out after {timeout:g} s fetching {url}", transient=True) from None
    except requests.ConnectionError as exc:
        # A read timeout while streaming surfaces as a ConnectionError wrapping urllib3's ReadTimeoutError.
        if "timed out" in str(exc).lower():
            raise FetchError(f"timed out after {timeout:g} s fetching {url}", transient=True) from None
        raise FetchError(f"could not connect to {url}: {exc}", transient=True) from None
    except requests.RequestException as exc:
        raise FetchError(f"could not fetch {url}: {exc}") from None
