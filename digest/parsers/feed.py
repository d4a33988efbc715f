"""RSS and Atom feeds (an arXiv listing, a blog of paper picks) through feedparser.

arXiv's feeds put the id in each entry's link (``/abs/2410.17243v1``), prefix descriptions with
``arXiv:2410.17243v1 Announce Type: new Abstract:`` and older ones suffix titles with ``(arXiv:... [cs.LG])``;
all of that is peeled off so the paper reads as it would anywhere else.
"""

from __future__ import annotations

import io
import re
import time
from datetime import date

import feedparser
from bs4 import BeautifulSoup

from digest.parsers.base import (
    ParsedDocument,
    ParsedPaper,
    ParseError,
    arxiv_id_from_url,
    collapse_whitespace,
    looks_binary,
    normalize_arxiv_id,
    unwrap_paragraphs,
)

_TITLE_SUFFIX_RE = re.compile(r"\s*\(arXiv:[^)]*\)\s*$", re.IGNORECASE)
_SUMMARY_PREFIX_RE = re.compile(
    r"^\s*arXiv:\S+\s+Announce Type:\s*\S+\s*(?:Abstract:\s*)?|^\s*Abstract:\s*", re.IGNORECASE
)


def _plain(html_or_text: str) -> str:
    if "<" not in html_or_text:
        return html_or_text
    return BeautifulSoup(html_or_text, "lxml").get_text("\n")


def _day(struct: object) -> date | None:
    if isinstance(struct, time.struct_time):
        try:
            return date(struct.tm_year, struct.tm_mon, struct.tm_mday)
        except ValueError:
            return None
    return None


def _authors(entry: feedparser.FeedParserDict) -> list[str]:
    names: list[str] = []
    for author in entry.get("authors") or []:
        name = collapse_whitespace(str(author.get("name") or "")) if isinstance(author, dict) else ""
        # arXiv's RSS puts every author in one dc:creator, comma separated.
        names.extend(part.strip() for part in name.split(",") if part.strip())
    return names


def _entry_id(entry: feedparser.FeedParserDict) -> str | None:
    candidates = [entry.get("link"), entry.get("id")]
    candidates += [link.get("href") for link in entry.get("links") or [] if isinstance(link, dict)]
    for candidate in candidates:
        if not isinstance(candidate, str):
            continue
        found = arxiv_id_from_url(candidate) or normalize_arxiv_id(candidate.removeprefix("oai:arXiv.org:"))
        if found:
            return found
    return None


def parse_feed(data: bytes, *, today: date, listed_date: date | None = None) -> ParsedDocument:
    if not data.strip():
        raise ParseError("empty document: no content to parse")
    if looks_binary(data):
        raise ParseError("binary data, not a text, HTML, JSON or feed document")
    try:
        # A stream, never bytes or str: feedparser opens a str/bytes that names a file or URL, which parsing
        # untrusted content must never do.
        feed = feedparser.parse(io.BytesIO(data))
    except Exception as exc:  # feedparser's internals raise many types on hostile input; all mean "not a feed".
        raise ParseError(f"not a readable RSS/Atom feed: {exc}") from None
    if not feed.get("version") and not feed.entries:
        reason = feed.get("bozo_exception")
        raise ParseError(f"not an RSS/Atom feed{f': {reason}' if reason else ''}")
    papers: list[ParsedPaper] = []
    for entry in feed.entries:
        title = collapse_whitespace(_TITLE_SUFFIX_RE.sub("", str(entry.get("title") or "")))
        if not title:
            continue
        summary = unwrap_paragraphs(_plain(str(entry.get("summary") or "")))
        summary = _SUMMARY_PREFIX_RE.sub("", summary).strip()
        arxiv_id = _entry_id(entry)
        links: dict[str, str] = {}
        if arxiv_id:
            links["arxiv"] = f"https://arxiv.org/abs/{arxiv_id}"
        link = entry.get("link")
        if isinstance(link, str) and link.startswith(("http://", "https://")):
            links.setdefault("page", link)
        papers.append(
            ParsedPaper(
                title=title,
                abstract=summary,
                arxiv_id=arxiv_id,
                authors=_authors(entry),
                links=links,
                published=_day(entry.get("published_parsed")) or _day(entry.get("updated_parsed")),
            )
        )
    if not papers:
        raise ParseError(f"no papers found in the feed: {len(feed.entries)} entries, none with a title")
    channel = feed.get("feed") or {}
    day = _day(channel.get("updated_parsed")) or _day(channel.get("published_parsed"))
    return ParsedDocument(format="feed", listed_date=day or listed_date, papers=papers)
