"""What every parser returns, the one error every parser raises, and the helpers they share."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from datetime import date

# New-style ids (2410.17243, optional version) and old-style ones (hep-th/9901001, math.GT/0309136).
_ARXIV_NEW = r"\d{4}\.\d{4,5}"
_ARXIV_OLD = r"[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7}"
ARXIV_ID_RE = re.compile(rf"^(?:arxiv:)?({_ARXIV_NEW}|{_ARXIV_OLD})(?:v\d+)?$", re.IGNORECASE)
# An id inside a URL path: /abs/2410.17243v2, /pdf/2410.17243.pdf, /papers/2410.17243.
ARXIV_IN_URL_RE = re.compile(rf"/(?:abs|pdf|papers|html)/({_ARXIV_NEW}|{_ARXIV_OLD})(?:v\d+)?(?:\.pdf)?(?:[/?#]|$)")
_WHITESPACE_RE = re.compile(r"\s+")
_CONTROL_BYTES = set(range(0x00, 0x09)) | {0x0B, 0x0E, 0x0F} | set(range(0x10, 0x20)) - {0x1B}


class ParseError(ValueError):
    """The document could not be turned into papers. The message says why, for an operator to read."""


@dataclass
class ParsedPaper:
    title: str
    abstract: str = ""
    arxiv_id: str | None = None
    authors: list[str] = field(default_factory=list)
    upvotes: int | None = None
    links: dict[str, str] = field(default_factory=dict)
    published: date | None = None
    # What the daily-papers API adds (empty / None from every other format).
    ai_summary: str = ""
    github_repo: str = ""
    github_stars: int | None = None
    project_page: str = ""
    num_comments: int | None = None


@dataclass
class ParsedDocument:
    format: str
    listed_date: date | None
    papers: list[ParsedPaper]


def collapse_whitespace(text: str) -> str:
    """One space for every run of whitespace (hard wraps included), trimmed."""
    return _WHITESPACE_RE.sub(" ", text).strip()


def unwrap_paragraphs(text: str) -> str:
    """Undo hard wrapping but keep paragraph breaks (a blank line) as one blank line."""
    paragraphs = re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    return "\n\n".join(p for p in (collapse_whitespace(p) for p in paragraphs) if p)


def normalize_arxiv_id(value: str | None) -> str | None:
    """The bare id without version or prefix, or None when ``value`` is not an arXiv id."""
    if not value:
        return None
    match = ARXIV_ID_RE.match(value.strip())
    return match.group(1) if match else None


def arxiv_id_from_url(url: str | None) -> str | None:
    if not url:
        return None
    match = ARXIV_IN_URL_RE.search(url)
    return match.group(1) if match else None


def web_url(value: object) -> str:
    """``value`` when it is an absolute http(s) URL that fits a URL column, else "": a "javascript:" or relative
    link from a source page must never reach a reader."""
    if not isinstance(value, str):
        return ""
    url = value.strip()
    return url if url.startswith(("http://", "https://")) and len(url) <= 500 and " " not in url else ""


def to_int(value: object) -> int | None:
    """An upvote count from whatever the source put there; None when it is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        cleaned = value.strip().replace(",", "")
        if cleaned.isascii() and cleaned.isdigit():
            return int(cleaned)
    return None


def looks_binary(data: bytes) -> bool:
    """True for bytes no digest page would contain: NULs or many control characters in the first 8 KB."""
    head = data[:8192]
    if not head:
        return False
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    if b"\x00" in head:
        return True
    controls = sum(1 for byte in head if byte in _CONTROL_BYTES)
    return controls / len(head) > 0.05


def decode(data: bytes) -> str:
    """Text from bytes: a BOM decides, then UTF-8, then the most plausible legacy encoding.

    Raises ParseError for empty input and for binary data, so garbage never reaches a parser as text.
    """
    if not data or not data.strip():
        raise ParseError("empty document: no content to parse")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ParseError(f"not valid UTF-16 despite its byte-order mark: {exc}") from None
    if looks_binary(data):
        raise ParseError("binary data, not a text, HTML, JSON or feed document")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Digest pages are English text; one that is not UTF-8 was saved by an older tool as Windows-1252 (what the
    # HTML standard decodes "latin-1" as, too). Statistical guessers misjudge pages this short, so none is used;
    # the five bytes Windows-1252 leaves undefined become replacement characters rather than losing the page.
    return data.decode("cp1252", errors="replace")


_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
# "Mar 14", "March 14", "Mar 14, 2025", "14 Mar 2025", "2025-03-14": a page's date heading.
DATE_LINE_RE = re.compile(
    r"^(?:(?P<mon>[A-Za-z]{3,9})\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(?P<year>\d{4}))?"
    r"|(?P<day2>\d{1,2})\s+(?P<mon2>[A-Za-z]{3,9})\.?(?:,?\s+(?P<year2>\d{4}))?"
    r"|(?P<iso>\d{4}-\d{2}-\d{2}))$"
)


def parse_date_line(line: str, *, reference: date) -> date | None:
    """The date a heading like ``Mar 14`` names, or None when the line is not a date.

    A heading without a year is the latest such month-day on or before ``reference`` (the operator's ``--date``,
    else the ingest day): a page read on 2025-03-31 that says ``Nov 6`` is from 2024-11-06, never a guess about
    the future. An explicit year or an ISO date is taken as written.
    """
    match = DATE_LINE_RE.match(line.strip())
    if not match:
        return None
    if match["iso"]:
        try:
            return date.fromisoformat(match["iso"])
        except ValueError:
            return None
    month = _MONTHS.get((match["mon"] or match["mon2"]).lower())
    day = int(match["day"] or match["day2"])
    explicit_year = match["year"] or match["year2"]
    if month is None:
        return None
    if explicit_year:
        try:
            return date(int(explicit_year), month, day)
        except ValueError:
            return None
    # Eight years back reaches the previous Feb 29 from any day; further back no month-day can be missing.
    for candidate_year in range(reference.year, reference.year - 9, -1):
        try:
            candidate = date(candidate_year, month, day)
        except ValueError:
            continue  # Feb 29 in a common year (or Apr 31): try an earlier year.
        if candidate <= reference:
            return candidate
    return None


def parse_iso_date(value: object) -> date | None:
    """The date part of an ISO 8601 timestamp (``2024-10-22T17:59:30.000Z``), or None."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None
