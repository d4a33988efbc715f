"""A reader's keywords: cleaned when typed, normalised into a cache key, matched and highlighted in the edition.

The edition's keyword section lists the papers that match a reader's keywords first, matches highlighted. It is
rendered once per distinct keyword set and cached on the edition body, since many readers share theirs.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable

from django.core.exceptions import ValidationError

from digest.rendering.body import EditionBody, EntryView, tldr_paragraph
from digest.rendering.matches import hidden_sentences
from digest.rendering.slots import fill_paragraph, wrap_long_lines

# What a reader may type (checked when they save their preferences).
KEYWORD_MAX_LENGTH = 50
KEYWORDS_MAX_COUNT = 20
# What the renderer uses of a stored list, whatever it holds (lists saved before the checks, hand-edited rows).
MAX_KEYWORDS = 20
MAX_KEYWORD_LENGTH = 60
# Distinct keyword sets seen while sending one edition; a bound keeps a pathological list from holding memory.
KEYWORD_CACHE_SIZE = 4096


def clean_keywords(items: list[str]) -> list[str]:
    """What a reader typed, as the list to store: trimmed, de-duplicated case-insensitively, in their order.

    ``ValidationError`` for anything that is not text, holds a control character or breaks a limit.
    """
    keywords: list[str] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, str):
            raise ValidationError("Keywords must be text.", code="invalid")
        keyword = " ".join(item.split())
        if not keyword:
            continue
        if any(unicodedata.category(ch).startswith("C") for ch in keyword):
            raise ValidationError("Keywords may not contain control characters.", code="invalid")
        if len(keyword) > KEYWORD_MAX_LENGTH:
            raise ValidationError(f"Each keyword has at most {KEYWORD_MAX_LENGTH} characters.", code="max_length")
        if keyword.casefold() not in seen:
            seen.add(keyword.casefold())
            keywords.append(keyword)
    if len(keywords) > KEYWORDS_MAX_COUNT:
        raise ValidationError(f"At most {KEYWORDS_MAX_COUNT} keywords.", code="max_count")
    return keywords


def normalize_keywords(keywords: Iterable[object]) -> tuple[str, ...]:
    """Distinct, lower-cased, trimmed keywords in a stable order: the cache key of a keyword section."""
    seen: set[str] = set()
    for keyword in keywords or ():
        if not isinstance(keyword, str):
            continue
        value = " ".join(keyword.split()).lower()[:MAX_KEYWORD_LENGTH]
        if value:
            seen.add(value)
    return tuple(sorted(seen))[:MAX_KEYWORDS]


def keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first so "language model" wins over "language"; anchored at a word start so "rag" misses "storage".
    alternatives = "|".join(re.escape(k) for k in sorted(keywords, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})", re.IGNORECASE)


# The highlight is added per keyword set, after the CSS pass, so it carries its style itself (same as .tp-hl).
HIGHLIGHT_STYLE = "background-color:#fde047; color:#18181b; font-weight:bold"


def highlight_html(text: str, pattern: re.Pattern[str]) -> str:
    """``text`` escaped, with each match wrapped in a highlight. Matches are found in the text, not in its HTML."""
    out: list[str] = []
    last = 0
    for match in pattern.finditer(text):
        out.append(html.escape(text[last : match.start()]))
        out.append(f'<mark class="tp-hl" style="{HIGHLIGHT_STYLE}">{html.escape(match.group(0))}</mark>')
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def highlight_text(text: str, pattern: re.Pattern[str]) -> str:
    return pattern.sub(lambda m: f"*{m.group(0)}*", text)


def matched_keywords(key: tuple[str, ...], texts: Iterable[str]) -> tuple[str, ...]:
    """The keywords of ``key`` found in any of ``texts`` (each on its own, so "language" counts beside "language
    model"), in ``key``'s order."""
    joined = "\n".join(texts)
    return tuple(k for k in key if keyword_pattern((k,)).search(joined))


def _why(body: EditionBody, view: EntryView, pattern: re.Pattern[str]) -> tuple[str, str]:
    """(html, text) of the card's "why" line: the abstract's sentences with a keyword the card does not show."""
    found = hidden_sentences(
        abstract=view.full_abstract, excerpt=view.abstract, elsewhere=(view.title, view.tldr), pattern=pattern
    )
    if not found:
        return "", ""
    sentences_html = " ".join(f"“{highlight_html(s.text, pattern)}”" for s in found)
    sentences_text = " ".join(f"“{highlight_text(s.text, pattern)}”" for s in found)
    return (
        body.why_html.fill({"sentences": sentences_html}),
        fill_paragraph(body.why_text.fill({"sentences": sentences_text})) + "\n",
    )


def keyword_section(body: EditionBody, keywords: Iterable[object]) -> tuple[str, str]:
    """(html, text) of the keyword section for this keyword set: matching papers first, matches highlighted.

    Each card says why it is there: its matches highlighted in the title and excerpt, and the abstract's sentence
    for a keyword found only past the excerpt; the heading names the keywords that matched. Cached on the body per
    distinct keyword set, since many readers share theirs.
    """
    key = normalize_keywords(keywords)
    if not key:
        return "", ""
    cache = body.keyword_cache
    cached = cache.get(key)
    if cached is not None:
        cache.move_to_end(key)
        return cached
    pattern = keyword_pattern(key)
    html_parts: list[str] = []
    text_parts: list[str] = []
    matched: list[str] = []
    for fragment in body.entries:
        view = fragment.view
        if not pattern.search(view.title) and not pattern.search(view.full_abstract):
            continue
        matched.append(f"{view.title}\n{view.full_abstract}")
        why_html, why_text = _why(body, view, pattern)
        html_values = {
            **fragment.html_values,
            "title": highlight_html(view.title, pattern),
            "tldr": highlight_html(view.tldr, pattern),
            "abstract": highlight_html(view.abstract, pattern),
            "why": why_html,
        }
        html_parts.append(fragment.html.fill(html_values))
        text_values = {
            **fragment.text_values,
            "title": fill_paragraph(highlight_text(view.title, pattern)),
            "tldr": tldr_paragraph(highlight_text(view.tldr, pattern)),
            "abstract": fill_paragraph(highlight_text(view.abstract, pattern)),
            "why": why_text,
        }
        text_parts.append(fragment.text.fill(text_values))
    if html_parts:
        shown = ", ".join(matched_keywords(key, matched))
        section_html = body.keywords_open_html.fill({"keywords": html.escape(shown)}) + "\n" + "\n".join(html_parts)
        section_text = body.keywords_open_text.fill({"keywords": shown}) + "\n" + "\n".join(text_parts) + "\n"
    else:
        shown = ", ".join(key)
        section_html = body.keywords_none_html.fill({"keywords": html.escape(shown)})
        section_text = body.keywords_none_text.fill({"keywords": shown})
    result = (wrap_long_lines(section_html), section_text)
    cache[key] = result
    if len(cache) > KEYWORD_CACHE_SIZE:
        cache.popitem(last=False)
    return result
