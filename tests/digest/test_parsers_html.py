from __future__ import annotations

import html
import json
from datetime import date
from pathlib import Path

import pytest

from digest.parsers import ParseError, detect_format, parse
from digest.parsers.html import parse_html

TODAY = date(2026, 6, 1)
FIXTURES = Path(__file__).parent / "fixtures"


def _page_with_props(props: object, *, cards: str = "") -> bytes:
    escaped = html.escape(json.dumps(props), quote=True)
    return (
        "<!DOCTYPE html><html><head><title>Daily Papers</title></head><body>"
        f'<div class="SVELTE_HYDRATER contents" data-target="DailyPapers" data-props="{escaped}">{cards}</div>'
        "</body></html>"
    ).encode()


PROPS = {
    "date": "2025-02-03",
    "dailyPapers": [
        {
            "paper": {
                "id": "2502.00001",
                "title": "Tiny Models,\n  Big Plans",
                "summary": "We plan with tiny models.\nIt works.",
                "authors": [{"name": "Ada Byron"}, {"name": "Alan Turing"}],
                "upvotes": 55,
                "publishedAt": "2025-01-31T10:00:00.000Z",
            },
            "publishedAt": "2025-02-03T08:00:00.000Z",
            "title": "Tiny Models, Big Plans",
        },
        {
            "paper": {"id": "2502.00002", "title": "<script>alert(1)</script> Safe?", "summary": "", "upvotes": 3},
            "publishedAt": "2025-02-03T08:00:00.000Z",
        },
    ],
}


def test_hydration_props_win_over_cards() -> None:
    cards = '<article><h3><a href="/papers/2502.09999">A Card Only Title</a></h3></article>'
    data = _page_with_props(PROPS, cards=cards)
    assert detect_format(data) == "html"
    parsed = parse(data, today=TODAY)
    assert parsed.format == "html"
    assert parsed.listed_date == date(2025, 2, 3)
    assert [p.title for p in parsed.papers] == ["Tiny Models, Big Plans", "<script>alert(1)</script> Safe?"]
    first = parsed.papers[0]
    assert (first.arxiv_id, first.upvotes, first.authors) == ("2502.00001", 55, ["Ada Byron", "Alan Turing"])
    assert first.abstract == "We plan with tiny models. It works."
    assert first.published == date(2025, 1, 31)


def test_server_rendered_cards_without_props() -> None:
    data = (FIXTURES / "cards.html").read_bytes()
    parsed = parse(data, today=TODAY)
    assert parsed.listed_date == date(2025, 2, 3)
    assert [(p.title, p.arxiv_id, p.upvotes) for p in parsed.papers] == [
        ("Folding Paper Cranes with Reinforcement Learning", "2502.01234", 112),
        ('\u00dcn\u00efcode & Entities: A "Careful" Title', "2502.04321", 7),
        ("Long Context Without Long Memory", None, None),
    ]
    assert parsed.papers[0].abstract == "A robot learns to fold origami from twelve demonstrations."
    assert parsed.papers[2].links == {"page": "https://example.org/blog/long-context"}


def test_broken_props_fall_back_to_cards() -> None:
    data = (
        b'<html><body><div data-target="DailyPapers" data-props="{not json"></div>'
        b'<div class="card"><h3><a href="/papers/2502.00003">Fallback Title</a></h3><span>9</span></div>'
        b"</body></html>"
    )
    parsed = parse_html(data, today=TODAY, listed_date=date(2025, 2, 5))
    assert [(p.title, p.arxiv_id, p.upvotes) for p in parsed.papers] == [("Fallback Title", "2502.00003", 9)]
    assert parsed.listed_date == date(2025, 2, 5)


def test_cards_without_article_each_find_their_own_upvotes() -> None:
    data = (
        b"<html><body><h2>Mar 3</h2>"
        b'<div class="card"><span class="upvotes">5</span><h3><a href="/papers/2503.00001">One</a></h3></div>'
        b'<div class="card"><span class="upvotes">8</span><h3><a href="/papers/2503.00002">Two</a></h3></div>'
        b"</body></html>"
    )
    parsed = parse_html(data, today=TODAY)
    assert [(p.title, p.upvotes) for p in parsed.papers] == [("One", 5), ("Two", 8)]
    assert parsed.listed_date == date(2026, 3, 3)


def test_page_without_papers_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="no papers found in the HTML"):
        parse((FIXTURES / "no-papers.html").read_bytes(), today=TODAY)


def test_a_heading_date_without_a_year_is_the_latest_on_or_before_the_operator_date() -> None:
    data = (
        b'<html><body><h2>Nov 6</h2><div class="card"><h3><a href="/papers/2411.00001">One</a></h3></div></body></html>'
    )
    assert parse_html(data, today=date(2030, 1, 1), listed_date=date(2025, 3, 31)).listed_date == date(2024, 11, 6)
    assert parse_html(data, today=date(2025, 3, 31)).listed_date == date(2024, 11, 6)
