"""The plain-text rendering of a trending-papers page.

Such a page is blank-line separated paragraphs: banner lines (``new``, ``Get trending papers in your email inbox!``,
``Subscribe``, ``by AK and the research community``), a date heading (``Mar 14``), then one paragraph with a title
and one with its abstract, per paper. Titles and abstracts are told apart by their place in that alternation, not
by their length (a short abstract is still an abstract); the only shape checks guard against an abstract that was
split into two paragraphs, whose second half must not become a title.
"""

from __future__ import annotations

import re
from datetime import date

from digest.parsers.base import ParsedDocument, ParsedPaper, ParseError, collapse_whitespace, decode, parse_date_line

BANNER_RES = [
    re.compile(r"^new$", re.IGNORECASE),
    re.compile(r"^get trending papers in your email inbox(?: once a day)?\s*!?$", re.IGNORECASE),
    re.compile(r"^subscribe$", re.IGNORECASE),
    re.compile(r"^by\s*AK and the research community$", re.IGNORECASE),
]
# A bare count between cards is the upvote number the page shows next to the following title.
_COUNT_RE = re.compile(r"^\d{1,7}$")
# Two sentence boundaries: prose, not a title (titles hold at most a colon and a subtitle).
_SENTENCE_BREAK_RE = re.compile(r"[.!?][\"')\]]?\s+[A-Z(\"']")
_MAX_TITLE_CHARS = 500


def _is_banner(line: str) -> bool:
    return any(pattern.match(line) for pattern in BANNER_RES)


def _cannot_be_title(paragraph: str) -> bool:
    """True for prose that can only be the rest of an abstract: several sentences, or far too long to be a title."""
    if len(paragraph) > _MAX_TITLE_CHARS:
        return True
    return len(_SENTENCE_BREAK_RE.findall(paragraph)) >= 2 and paragraph.endswith((".", "!", "?"))


def _paragraphs(text: str) -> list[str]:
    """Paragraphs with their hard wraps undone; blank lines (spaces or tabs only) separate them."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    blocks = re.split(r"\n[ \t\f\v]*\n", text)
    return [p for p in (collapse_whitespace(block) for block in blocks) if p]


def parse_text(data: bytes, *, today: date, listed_date: date | None = None) -> ParsedDocument:
    text = decode(data)
    paragraphs = _paragraphs(text)
    page_date: date | None = None

    # The header: banner lines and the date heading, in any order, before the first paper.
    index = 0
    while index < len(paragraphs):
        paragraph = paragraphs[index]
        if _is_banner(paragraph):
            index += 1
            continue
        if page_date is None:
            found = parse_date_line(paragraph, reference=listed_date or today)
            if found is not None:
                page_date = found
                index += 1
                continue
        break

    papers: list[ParsedPaper] = []
    pending_upvotes: int | None = None
    body = paragraphs[index:]
    position = 0
    while position < len(body):
        paragraph = body[position]
        position += 1
        if _COUNT_RE.match(paragraph):
            pending_upvotes = int(paragraph)
            continue
        if _is_banner(paragraph):
            continue  # a repeated banner (pages rendered with a footer copy of it)
        if papers and _cannot_be_title(paragraph):
            # The second paragraph of an abstract the page split in two.
            previous = papers[-1]
            previous.abstract = f"{previous.abstract}\n\n{paragraph}" if previous.abstract else paragraph
            continue
        if len(paragraph) > _MAX_TITLE_CHARS:
            raise ParseError(
                f"expected a paper title at paragraph {index + position} but found {len(paragraph)} characters "
                f"of prose: {paragraph[:80]!r}"
            )
        abstract = ""
        if position < len(body) and not _COUNT_RE.match(body[position]):
            abstract = body[position]
            position += 1
        papers.append(ParsedPaper(title=paragraph, abstract=abstract, upvotes=pending_upvotes))
        pending_upvotes = None

    if not papers:
        raise ParseError("no papers found in the text: expected title and abstract paragraphs after the date line")
    return ParsedDocument(format="text", listed_date=page_date or listed_date, papers=papers)
