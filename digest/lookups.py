"""Asking the arXiv API and the Hugging Face papers API about one title: the requests and their answers, no database.

- arXiv: ``ARXIV_API_URL?search_query=ti:"<title>"`` answers an Atom feed (read with the project's feed parser);
  an empty feed means nothing matched, an entry whose id is under ``/api/errors`` is arXiv reporting a bad query.
- Hugging Face: ``HF_API_URL/papers/search?q=<title>`` answers a JSON list of daily-papers items (read with the
  daily-papers parser, so a match brings its TL;DR, code and project page along).

A match is accepted only when its normalized title (``digest.normalize.title_key``) equals the paper's exactly, and
only when one arXiv id has that title. Every request waits for its turn in the shared throttle.

Two failures, told apart because they are handled apart: ``LookupDeferred`` (rate limited, timed out, the server
erred: ask again later, nothing is remembered) and ``LookupFailed`` (the answer cannot be read: remembered like a
miss, so a broken answer is not fetched again on every ingest).
"""

from __future__ import annotations

import io
import json
import re
import xml.sax
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlencode

import feedparser
from django.conf import settings
from django.utils import timezone

from digest.http import FetchError, fetch_url
from digest.normalize import title_key
from digest.parsers import ParsedPaper, ParseError
from digest.parsers.feed import parse_feed
from digest.parsers.json_api import find_item_list, parse_items
from digest.throttle import Throttled, throttle_pause, throttle_wait

# A rate-limited or failing server with no Retry-After is left alone this long.
DEFAULT_PAUSE_SECONDS = 60.0
_ARXIV_MAX_RESULTS = 10  # a title phrase also matches longer titles that contain it; one of these is the paper
_QUERY_DROP_RE = re.compile(r"[^\w\s]+")


class LookupSource(StrEnum):
    ARXIV = "arxiv"
    HF = "hf"

    @property
    def label(self) -> str:
        return "arXiv" if self is LookupSource.ARXIV else "Hugging Face"


class LookupDeferred(Exception):
    """Ask again later: the server limited us, timed out or erred. ``retry_after`` is how long to wait, in seconds."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LookupFailed(Exception):
    """The server answered, but not with anything this module can read. The message says what came back."""


@dataclass(frozen=True)
class Match:
    """What a lookup found: the source's paper, and which source."""

    source: LookupSource
    paper: ParsedPaper


def enabled_sources() -> list[LookupSource]:
    """The APIs configured, in the order they are asked: arXiv first (the id's home), then Hugging Face."""
    sources = []
    if settings.ARXIV_API_URL:
        sources.append(LookupSource.ARXIV)
    if settings.HF_API_URL:
        sources.append(LookupSource.HF)
    return sources


def title_query(title: str) -> str:
    """The title as a search phrase: punctuation becomes spaces (a colon or quote would end arXiv's phrase)."""
    return " ".join(_QUERY_DROP_RE.sub(" ", title).split())


def search(*, source: LookupSource, title: str, max_wait: float) -> list[ParsedPaper]:
    """Every paper the source answers for ``title``. Raises LookupDeferred or LookupFailed."""
    query = title_query(title)
    if not query:
        return []
    if source is LookupSource.ARXIV:
        params = {"search_query": f'ti:"{query}"', "max_results": str(_ARXIV_MAX_RESULTS)}
        url = f"{settings.ARXIV_API_URL}?{urlencode(params)}"
        interval = settings.ENRICH_ARXIV_INTERVAL
    else:
        url = f"{settings.HF_API_URL}/papers/search?{urlencode({'q': query})}"
        interval = settings.ENRICH_HF_INTERVAL
    data = _get(url, name=f"lookup-{source.value}", interval=interval, max_wait=max_wait, label=source.label)
    return read_arxiv_answer(data) if source is LookupSource.ARXIV else read_hf_answer(data)


def _get(url: str, *, name: str, interval: float, max_wait: float, label: str) -> bytes:
    try:
        throttle_wait(name=name, interval=interval, max_wait=max_wait)
    except Throttled as exc:
        raise LookupDeferred(f"{label}: waiting for a request slot: {exc}", retry_after=exc.retry_after) from None
    try:
        fetched = fetch_url(url, timeout=settings.ENRICH_TIMEOUT)
    except FetchError as exc:
        if not exc.transient:
            raise LookupFailed(f"{label} refused the query: {exc}") from None
        pause = exc.retry_after if exc.retry_after is not None else DEFAULT_PAUSE_SECONDS
        if exc.status is not None:
            # Everyone backs off, not just this caller: the server spoke about us all.
            throttle_pause(name=name, seconds=pause)
        raise LookupDeferred(f"{label}: {exc}", retry_after=pause) from None
    return fetched.content or b""


def read_arxiv_answer(data: bytes) -> list[ParsedPaper]:
    """The papers in an arXiv API answer; [] for an empty feed. Raises LookupFailed for anything but a feed."""
    feed = feedparser.parse(io.BytesIO(data))
    broken = feed.get("bozo") and isinstance(feed.get("bozo_exception"), xml.sax.SAXException)
    if broken or feed.get("version") != "atom10":
        reason = feed.get("bozo_exception") or "no Atom feed element"
        raise LookupFailed(f"arXiv answered something that is not an Atom feed ({reason}): {_preview(data)}")
    for entry in feed.entries:
        if "/api/errors" in str(entry.get("id") or ""):
            raise LookupFailed(f"arXiv reported an error: {' '.join(str(entry.get('summary') or '').split())}")
    if not feed.entries:
        return []
    try:
        papers = parse_feed(data, today=timezone.localdate()).papers
    except ParseError as exc:
        raise LookupFailed(f"arXiv's answer has no readable entry: {exc}") from None
    return [paper for paper in papers if paper.arxiv_id]


def read_hf_answer(data: bytes) -> list[ParsedPaper]:
    """The papers in a Hugging Face search answer. Raises LookupFailed for anything but a JSON list of papers."""
    try:
        payload = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise LookupFailed(f"Hugging Face answered something that is not JSON ({exc}): {_preview(data)}") from None
    items = find_item_list(payload)
    if items is None:
        raise LookupFailed(f"Hugging Face answered JSON without a list of papers: {_preview(data)}")
    papers, _ = parse_items(items)
    return [paper for paper in papers if paper.arxiv_id]


def exact_match(*, title: str, candidates: list[ParsedPaper]) -> tuple[ParsedPaper | None, str]:
    """The one candidate whose normalized title equals ``title``'s, and a note saying why when there is none."""
    key = title_key(title)
    same = [paper for paper in candidates if title_key(paper.title) == key]
    ids = sorted({paper.arxiv_id for paper in same if paper.arxiv_id})
    if len(ids) == 1:
        return same[0], ""
    if len(ids) > 1:
        return None, f"{len(ids)} papers share this title ({', '.join(ids[:3])}): none chosen"
    if candidates:
        return None, f"{len(candidates)} results, none with exactly this title"
    return None, "no results"


def _preview(data: bytes) -> str:
    return repr(data[:120].decode("utf-8", errors="replace"))
