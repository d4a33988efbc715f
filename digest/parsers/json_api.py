"""The daily-papers API JSON: a list of ``{"paper": {...}, "publishedAt": ..., "title": ...}`` objects.

The API hard-wraps ``paper.title`` (``"...Scaling for\\n  Contrastive Loss"``) and ``paper.summary`` at about 80
columns; both are unwrapped here. The same item shape appears in an HTML page's hydration props and in the papers
search API's answers, so ``parse_items`` serves the HTML parser and the title lookup too.

Newer answers carry more on the paper object (``ai_summary``, ``githubRepo``, ``githubStars``, ``projectPage``)
and on the item (``numComments``); each is read where it sits, with the other object as a fallback, and a value of
the wrong type is left out rather than failing the page.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import date

from digest.parsers.base import (
    ParsedDocument,
    ParsedPaper,
    ParseError,
    collapse_whitespace,
    decode,
    normalize_arxiv_id,
    parse_iso_date,
    to_int,
    unwrap_paragraphs,
    web_url,
)

_LIST_KEYS = ("dailyPapers", "papers", "items", "data", "results")


def _authors(raw: object) -> list[str]:
    names: list[str] = []
    if not isinstance(raw, list):
        return names
    for author in raw:
        name = author.get("name") if isinstance(author, dict) else author
        if isinstance(name, str) and collapse_whitespace(name):
            names.append(collapse_whitespace(name))
    return names


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def parse_item(item: object) -> ParsedPaper | None:
    """One paper from an API item (or a bare paper object); None when it carries no title."""
    if not isinstance(item, dict):
        return None
    nested = item.get("paper")
    paper: dict[str, object] = nested if isinstance(nested, dict) else item
    title = collapse_whitespace(_text(paper.get("title")) or _text(item.get("title")))
    if not title:
        return None
    raw_id = paper.get("id") if isinstance(paper.get("id"), str) else paper.get("arxiv_id")
    arxiv_id = normalize_arxiv_id(raw_id if isinstance(raw_id, str) else None)
    links: dict[str, str] = {}
    if arxiv_id:
        links["arxiv"] = f"https://arxiv.org/abs/{arxiv_id}"
        links["hf"] = f"https://huggingface.co/papers/{arxiv_id}"
    upvotes = _count(paper, item, "upvotes")
    return ParsedPaper(
        title=title,
        abstract=unwrap_paragraphs(_text(paper.get("summary")) or _text(paper.get("abstract"))),
        arxiv_id=arxiv_id,
        authors=_authors(paper.get("authors")),
        upvotes=upvotes,
        links=links,
        published=parse_iso_date(paper.get("publishedAt")),
        ai_summary=collapse_whitespace(_text(paper.get("ai_summary")) or _text(item.get("ai_summary"))),
        github_repo=web_url(paper.get("githubRepo")) or web_url(item.get("githubRepo")),
        github_stars=_count(paper, item, "githubStars"),
        project_page=web_url(paper.get("projectPage")) or web_url(item.get("projectPage")),
        # Comments are counted on the daily-papers item (its discussion), not on the paper.
        num_comments=_count(item, paper, "numComments"),
    )


def _count(first: dict[str, object], second: dict[str, object], key: str) -> int | None:
    """A non-negative count from ``first[key]``, else ``second[key]``; None when neither holds one."""
    for source in (first, second):
        value = to_int(source.get(key))
        if value is not None and value >= 0:
            return value
    return None


def parse_items(items: Iterable[object]) -> tuple[list[ParsedPaper], date | None]:
    """Papers from API items, and the day they were listed (the most common item-level ``publishedAt`` date)."""
    papers: list[ParsedPaper] = []
    listed: Counter[date] = Counter()
    for item in items:
        parsed = parse_item(item)
        if parsed is None:
            continue
        papers.append(parsed)
        if isinstance(item, dict) and isinstance(item.get("paper"), dict):
            day = parse_iso_date(item.get("publishedAt"))
            if day is not None:
                listed[day] += 1
    return papers, (listed.most_common(1)[0][0] if listed else None)


def find_item_list(payload: object) -> list[object] | None:
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        for key in _LIST_KEYS:
            if isinstance(payload.get(key), list):
                return payload[key]
    return None


def parse_json(data: bytes, *, today: date, listed_date: date | None = None) -> ParsedDocument:
    text = decode(data)
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"invalid JSON (truncated or malformed): {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise ParseError("invalid JSON: nested too deeply") from None
    items = find_item_list(payload)
    if items is None:
        raise ParseError(f"JSON has no list of papers (expected a list or one of the keys {', '.join(_LIST_KEYS)})")
    papers, day = parse_items(items)
    if not papers:
        raise ParseError(f"no papers found in the JSON: none of its {len(items)} items has a title")
    if day is None and isinstance(payload, dict):
        day = parse_iso_date(payload.get("date"))
    return ParsedDocument(format="json", listed_date=day or listed_date, papers=papers)
