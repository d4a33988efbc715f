"""Why a paper is in a reader's keyword section: the sentence of its abstract that matched, when the card hides it.

A keyword in the title or in the trimmed excerpt is already highlighted where the reader looks. A keyword that
only occurs further into the abstract (the issue's "robot" at character 1,502) would leave the reader guessing, so
its sentence is shown on its own, cut to a window around the match when the sentence is long. Pure functions of
text and a compiled keyword pattern: run once per keyword set per edition, never per recipient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends at . ! or ? followed by a space and a capital, a digit or an opening quote or bracket, except
# after an abbreviation a paper abstract uses mid-sentence ("e.g.", "et al.", "Fig.", a single initial).
_ENDS = re.compile(r"[.!?][\"')\]]*\s+(?=[A-Z0-9\"'(\[“])")
_ABBREVIATION = re.compile(r"(?:\b(?:e\.g|i\.e|et al|etc|vs|cf|Fig|Figs|Eq|Eqs|Sec|No|approx)|\b[A-Z])\.$")
# At most this many characters of one sentence (a window around the first match beyond that).
SENTENCE_CHARS = 280
# At most this many sentences per card: one per keyword the card does not show otherwise.
MAX_SENTENCES = 2


@dataclass(frozen=True, slots=True)
class MatchedSentence:
    """A sentence (or a window of a long one) holding a match, and where it starts in the source text."""

    text: str
    start: int


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text``, whitespace between sentences excluded."""
    spans: list[tuple[int, int]] = []
    start = 0
    for end in _ENDS.finditer(text):
        stop = end.start() + len(end.group(0).rstrip())
        if _ABBREVIATION.search(text[start : end.start() + 1]):
            continue
        spans.append((start, stop))
        start = end.end()
    if start < len(text) and text[start:].strip():
        spans.append((start, len(text.rstrip())))
    return spans


def _window(span: tuple[int, int], match: re.Match[str], limit: int) -> tuple[int, int]:
    """The part of the sentence ``span`` to show: all of it, or about ``limit`` characters around ``match``, cut
    at spaces."""
    start, end = span
    if end - start <= limit:
        return start, end
    text = match.string
    room = max(limit - (match.end() - match.start()), 0)
    begin = max(match.start() - room // 3, start)
    stop = min(begin + limit, end)
    begin = max(min(begin, stop - limit), start)
    if begin > start:
        space = text.find(" ", begin, match.start())
        begin = space + 1 if space != -1 else begin
    if stop < end:
        space = text.rfind(" ", match.end(), stop)
        stop = space if space != -1 else stop
    return begin, stop


def matching_sentences(
    text: str,
    pattern: re.Pattern[str],
    *,
    after: int = 0,
    skip: frozenset[str] = frozenset(),
    limit: int = MAX_SENTENCES,
    chars: int = SENTENCE_CHARS,
) -> list[MatchedSentence]:
    """The sentences of ``text`` holding a match that ends past ``after``, one per keyword not in ``skip``.

    ``skip`` holds matched words (lower-cased) the reader already sees elsewhere. A long sentence is cut to about
    ``chars`` characters around its first new match, with an ellipsis where it was cut; a keyword whose match is
    inside a sentence already chosen adds nothing (every match is highlighted where it is shown).
    """
    spans = sentence_spans(text)
    chosen: list[tuple[int, int, int, int]] = []  # sentence start, sentence end, shown from, shown to
    seen = set(skip)
    for match in pattern.finditer(text):
        word = match.group(0).lower()
        if match.end() <= after or word in seen:
            continue
        seen.add(word)
        if any(begin <= match.start() and match.end() <= stop for _, _, begin, stop in chosen):
            continue
        span = next(((s, e) for s, e in spans if s <= match.start() < e), (match.start(), match.end()))
        chosen.append((*span, *_window(span, match, chars)))
        if len(chosen) >= limit:
            break
    return [
        MatchedSentence(
            text=("…" if begin > start else "") + text[begin:stop].strip() + ("…" if stop < end else ""), start=begin
        )
        for start, end, begin, stop in sorted(chosen)
    ]


def visible_matches(pattern: re.Pattern[str], *texts: str) -> frozenset[str]:
    """The matched words (lower-cased) of ``texts``: what a card already highlights."""
    return frozenset(match.group(0).lower() for text in texts for match in pattern.finditer(text))


def hidden_sentences(
    *,
    abstract: str,
    excerpt: str,
    elsewhere: tuple[str, ...] = (),
    pattern: re.Pattern[str],
    limit: int = MAX_SENTENCES,
) -> list[MatchedSentence]:
    """The sentences of ``abstract`` holding a keyword that neither the shown ``excerpt`` nor the card's other
    texts (``elsewhere``: its title, its TL;DR) have.

    ``abstract`` is the whole abstract on one line (as ``trim_text`` reads it) and ``excerpt`` the start of it a
    card shows, with or without a closing ellipsis.
    """
    shown = excerpt.removesuffix("…")
    return matching_sentences(
        abstract, pattern, after=len(shown), skip=visible_matches(pattern, *elsewhere, shown), limit=limit
    )
