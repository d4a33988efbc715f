"""Answers the title-lookup stand-in serves, written for the project in the shapes the real APIs use: an arXiv API
Atom feed (with its opensearch counts and arxiv: elements) and a Hugging Face papers-search JSON list."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape

from django.test import override_settings

from tests.digest.local_http import LocalServer, Route, local_server

ARXIV_PATH = "/arxiv/api/query"
HF_SEARCH_PATH = "/hf/api/papers/search"


@dataclass
class Entry:
    arxiv_id: str
    title: str
    authors: list[str] = field(default_factory=lambda: ["Rosa Quill", "Tomas Fern"])
    summary: str = "We teach small wheeled robots to read floor plans drawn by hand."
    published: str = "2026-03-02T17:40:00Z"


def arxiv_feed(*entries: Entry) -> bytes:
    items = "".join(
        f"""
  <entry>
    <id>http://arxiv.org/abs/{e.arxiv_id}v2</id>
    <updated>2026-03-04T10:00:00Z</updated>
    <published>{e.published}</published>
    <title>{escape(e.title)}</title>
    <summary>  {escape(e.summary)}
</summary>
    {"".join(f"<author><name>{escape(name)}</name></author>" for name in e.authors)}
    <arxiv:comment xmlns:arxiv="http://arxiv.org/schemas/atom">12 pages</arxiv:comment>
    <link href="http://arxiv.org/abs/{e.arxiv_id}v2" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/{e.arxiv_id}v2" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="cs.RO" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.RO" scheme="http://arxiv.org/schemas/atom"/>
  </entry>"""
        for e in entries
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?search_query%3Dti%3A%22x%22" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: search_query=ti:"x"</title>
  <id>http://arxiv.org/api/stand-in</id>
  <updated>2026-03-04T00:00:00-05:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{len(entries)}</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:startIndex>
  <opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">10</opensearch:itemsPerPage>{items}
</feed>
""".encode()


def arxiv_error_feed(message: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title type="html">ArXiv Query: error</title>
  <id>http://arxiv.org/api/stand-in-error</id>
  <updated>2026-03-04T00:00:00-05:00</updated>
  <entry>
    <id>http://arxiv.org/api/errors#malformed_query</id>
    <title>Error</title>
    <summary>{escape(message)}</summary>
    <updated>2026-03-04T00:00:00-05:00</updated>
    <author><name>arXiv api core</name></author>
  </entry>
</feed>
""".encode()


def hf_answer(*papers: dict) -> bytes:
    """A papers-search answer: daily-papers items, the paper object inside each."""
    return json.dumps([{"paper": paper, "publishedAt": "2026-03-03T06:00:00.000Z"} for paper in papers]).encode()


ATOM = "application/atom+xml; charset=utf-8"
JSON = "application/json"


@contextmanager
def lookup_apis(
    arxiv: Route | list[Route] | None = None, hf: Route | list[Route] | None = None, **overrides: object
) -> Iterator[LocalServer]:
    """A local stand-in for both APIs, with the settings pointed at it (an API given no route is turned off)."""
    routes: dict[str, Route | list[Route]] = {}
    if arxiv is not None:
        routes[ARXIV_PATH] = arxiv
    if hf is not None:
        routes[HF_SEARCH_PATH] = hf
    with local_server(routes) as server:
        values: dict[str, object] = {
            "ARXIV_API_URL": server.url(ARXIV_PATH) if arxiv is not None else "",
            "HF_API_URL": server.url("/hf/api") if hf is not None else "",
            "ENRICH_ARXIV_INTERVAL": 0.0,
            "ENRICH_HF_INTERVAL": 0.0,
            "ENRICH_TIMEOUT": 2.0,
            "ENRICH_MISS_HOURS": 24,
        }
        values.update(overrides)
        with override_settings(**values):
            yield server
