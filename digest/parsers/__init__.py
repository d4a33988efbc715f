"""Digest parsers: pure functions from a document's bytes to a ParsedDocument, one module per format.

``parse(data, today=...)`` detects the format from the content unless one is given; every failure, whatever the
format, is a ``ParseError`` whose message an operator can act on.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from datetime import date

from digest.parsers.base import ParsedDocument, ParsedPaper, ParseError, decode, looks_binary
from digest.parsers.feed import parse_feed
from digest.parsers.html import parse_html
from digest.parsers.json_api import parse_json
from digest.parsers.text import parse_text

__all__ = ["FORMATS", "ParseError", "ParsedDocument", "ParsedPaper", "detect_format", "parse"]

Parser = Callable[..., ParsedDocument]
FORMATS: dict[str, Parser] = {"text": parse_text, "html": parse_html, "json": parse_json, "feed": parse_feed}

_PROLOG_RE = re.compile(r"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>)", re.DOTALL | re.IGNORECASE)
_FIRST_TAG_RE = re.compile(r"\s*<([A-Za-z][\w:.-]*)")
_FEED_ROOTS = {"rss", "feed", "rdf:rdf"}
_HTML_RE = re.compile(r"<!doctype\s+html|<(?:html|head|body|div|article|section|h3)[\s>]", re.IGNORECASE)


def detect_format(data: bytes) -> str:
    """ "json", "feed", "html" or "text", judged from the first 16 KB. Empty or binary data is a ParseError."""
    if not data.strip():
        raise ParseError("empty document: no content to parse")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        head = decode(data[:16384])
    elif looks_binary(data):
        raise ParseError("binary data, not a text, HTML, JSON or feed document")
    else:
        # Only ASCII markers matter here, and every encoding a page comes in keeps ASCII as is.
        head = data[:16384].decode("utf-8", errors="ignore")
    head = head.lstrip("\ufeff \t\r\n")
    if head.startswith(("{", "[")):
        return "json"
    position = 0
    while match := _PROLOG_RE.match(head, position):
        if match.end() == position:
            break
        position = match.end()
    first_tag = _FIRST_TAG_RE.match(head, position)
    if first_tag and first_tag.group(1).lower() in _FEED_ROOTS:
        return "feed"
    if _HTML_RE.search(head):
        return "html"
    return "text"


def parse(data: bytes, *, format: str = "auto", today: date, listed_date: date | None = None) -> ParsedDocument:
    """Parse a digest document. ``listed_date`` is the operator's date: the day the page lists when it does not
    say, and the reference day (else ``today``) for a heading with no year: the latest such date on or before it."""
    chosen = detect_format(data) if format in ("auto", "") else format
    parser = FORMATS.get(chosen)
    if parser is None:
        raise ParseError(f"unknown format {format!r}: choose one of auto, {', '.join(FORMATS)}")
    return parser(data, today=today, listed_date=listed_date)
