"""The HTML of a trending-papers page.

The page hydrates a component from ``data-target="DailyPapers"`` ``data-props`` (HTML-escaped JSON holding the
same items as the daily-papers API), which has everything: ids, full abstracts, authors, upvotes. Without it (a
page saved after scripts ran, or a similar site) the server-rendered cards are read instead: the ``h3 a`` title,
its ``/papers/<arxiv id>`` link, the upvote count in the card and a summary paragraph when there is one.
"""

from __future__ import annotations

import json
import re
import warnings
from datetime import date

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, Tag

from digest.parsers.base import (
    ParsedDocument,
    ParsedPaper,
    ParseError,
    arxiv_id_from_url,
    collapse_whitespace,
    decode,
    parse_date_line,
    parse_iso_date,
    to_int,
)
from digest.parsers.json_api import find_item_list, parse_items

_COUNT_RE = re.compile(r"^\d[\d,]{0,9}$")


def _props_papers(soup: BeautifulSoup) -> tuple[list[ParsedPaper], date | None] | None:
    """Papers from the hydration props, or None when the page has none (or they are not valid JSON)."""
    for node in soup.select('[data-target="DailyPapers"]'):
        raw = node.get("data-props")
        if not isinstance(raw, str) or not raw.strip():
            continue
        try:
            props = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            continue  # broken props: the server-rendered cards may still be there
        items = find_item_list(props)
        if items is None:
            continue
        papers, day = parse_items(items)
        if isinstance(props, dict):
            day = parse_iso_date(props.get("date")) or day
        return papers, day
    return None


def _card_of(heading: Tag) -> Tag:
    """The card around a title: its ``article``, else the largest ancestor that holds no other title."""
    article = heading.find_parent("article")
    if article is not None:
        return article
    card: Tag = heading
    for parent in heading.parents:
        if not isinstance(parent, Tag) or parent.name in ("body", "html", "[document]"):
            break
        if len(parent.find_all("h3")) > 1:
            break
        card = parent
    return card


def _inside(node: Tag, ancestor: Tag) -> bool:
    # Identity, not ==: bs4 compares tags by content, and two cards can look alike.
    return node is ancestor or any(parent is ancestor for parent in node.parents)


def _upvotes(card: Tag, heading: Tag) -> int | None:
    marked = card.select('[class*="upvote"], [aria-label*="upvote" i], [data-upvotes]')
    for node in marked:
        if node.get("data-upvotes") is not None:
            value = to_int(node.get("data-upvotes"))
            if value is not None:
                return value
        text = collapse_whitespace(node.get_text(" "))
        if _COUNT_RE.match(text):
            return to_int(text)
    for node in card.find_all(True):
        if node.find(True) is not None or _inside(node, heading):
            continue
        text = collapse_whitespace(node.get_text(" "))
        if _COUNT_RE.match(text):
            return to_int(text)
    return None


def _card_papers(soup: BeautifulSoup) -> list[ParsedPaper]:
    papers: list[ParsedPaper] = []
    for link in soup.select("h3 a"):
        title = collapse_whitespace(link.get_text(" "))
        if not title:
            continue
        heading = link.find_parent("h3")
        if heading is None:  # cannot happen for a match of "h3 a"; says so to the type checker
            continue
        card = _card_of(heading)
        raw_href = link.get("href")
        href = raw_href if isinstance(raw_href, str) else ""
        arxiv_id = arxiv_id_from_url(href)
        links: dict[str, str] = {}
        if arxiv_id:
            links["arxiv"] = f"https://arxiv.org/abs/{arxiv_id}"
            links["hf"] = f"https://huggingface.co/papers/{arxiv_id}"
        elif href.startswith(("http://", "https://")):
            links["page"] = href
        summary = next(
            (collapse_whitespace(p.get_text(" ")) for p in card.find_all("p") if not _inside(p, heading)),
            "",
        )
        papers.append(
            ParsedPaper(
                title=title,
                abstract=summary,
                arxiv_id=arxiv_id,
                upvotes=_upvotes(card, heading),
                links=links,
            )
        )
    return papers


def _page_date(soup: BeautifulSoup, *, today: date, listed_date: date | None) -> date | None:
    for node in soup.find_all("time"):
        found = parse_iso_date(node.get("datetime")) or parse_date_line(
            collapse_whitespace(node.get_text(" ")), reference=listed_date or today
        )
        if found:
            return found
    for node in soup.find_all(["h1", "h2"]):
        found = parse_date_line(collapse_whitespace(node.get_text(" ")), reference=listed_date or today)
        if found:
            return found
    return None


def parse_html(data: bytes, *, today: date, listed_date: date | None = None) -> ParsedDocument:
    text = decode(data)
    with warnings.catch_warnings():
        # A short fragment "looks like a file name" to bs4; it is still markup to parse.
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(text, "lxml")
    from_props = _props_papers(soup)
    if from_props is not None and from_props[0]:
        papers, day = from_props
    else:
        papers, day = _card_papers(soup), None
    if not papers:
        raise ParseError(
            'no papers found in the HTML: no data-target="DailyPapers" data-props with papers and no "h3 a" cards'
        )
    day = day or _page_date(soup, today=today, listed_date=listed_date)
    return ParsedDocument(format="html", listed_date=day or listed_date, papers=papers)
