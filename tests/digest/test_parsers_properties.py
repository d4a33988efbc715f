"""Whatever bytes arrive, every parser returns papers or raises ParseError: nothing else escapes."""

from __future__ import annotations

import json
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.parsers import FORMATS, ParsedDocument, ParseError, parse

TODAY = date(2026, 6, 1)
PARSERS = ["auto", *FORMATS]

_tags = st.sampled_from(["div", "h3", "a", "article", "p", "span", "time", "h1", "rss", "item", "title", "feed"])
_attrs = st.sampled_from(
    [
        "",
        ' href="/papers/2401.00001"',
        ' data-target="DailyPapers" data-props="{&quot;dailyPapers&quot;:[{&quot;title&quot;:1}]}"',
        ' data-target="DailyPapers" data-props="[&quot;x&quot;"',
        ' class="upvote"',
        ' datetime="2025-13-45"',
    ]
)
_text_bits = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["Mar 14", "Feb 29", "new", "Subscribe", "12", "\n\n", "\r\n", ". A", "\ufeff", "&amp;", "<"]),
)


@st.composite
def html_documents(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 12))):
        tag = draw(_tags)
        parts.append(f"<{tag}{draw(_attrs)}>{draw(_text_bits)}")
        if draw(st.booleans()):
            parts.append(f"</{tag}>")
    return "".join(parts)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["paper", "id", "title", "summary", "authors", "upvotes", "publishedAt", "name", "papers"]),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


def _check(data: bytes) -> None:
    for fmt in PARSERS:
        try:
            result = parse(data, format=fmt, today=TODAY, listed_date=None)
        except ParseError as exc:
            assert str(exc)  # a reason an operator can read
        else:
            assert isinstance(result, ParsedDocument)
            assert result.papers
            assert all(paper.title.strip() for paper in result.papers)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    _check(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_text_bits, max_size=30).map("\n".join))
def test_random_text(text: str) -> None:
    _check(text.encode("utf-8"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(html_documents())
def test_random_html(markup: str) -> None:
    _check(markup.encode("utf-8"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_json_values)
def test_random_json(value: object) -> None:
    _check(json.dumps(value).encode())
    _check(json.dumps([{"paper": value}]).encode())
