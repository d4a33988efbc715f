from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from digest.parsers import ParseError, detect_format, parse
from digest.parsers.json_api import parse_json

TODAY = date(2026, 6, 1)


def test_api_file_gives_29_papers_with_ids_authors_upvotes(shared_dir: Path) -> None:
    data = (shared_dir / "formats" / "hf-daily-papers-api.json").read_bytes()
    raw = json.loads(data)
    assert detect_format(data) == "json"
    parsed = parse(data, today=TODAY)
    assert parsed.format == "json"
    assert len(parsed.papers) == 29
    assert parsed.listed_date == date.fromisoformat(raw[0]["publishedAt"][:10])
    for paper, item in zip(parsed.papers, raw, strict=True):
        assert paper.arxiv_id == item["paper"]["id"]
        # Hard-wrapped titles come out on one line with single spaces, the same words in the same order.
        assert "\n" not in paper.title and "  " not in paper.title
        assert paper.title.split() == item["paper"]["title"].split()
        assert paper.authors == [a["name"] for a in item["paper"]["authors"]]
        assert paper.upvotes == item["paper"]["upvotes"]
        assert paper.published == date.fromisoformat(item["paper"]["publishedAt"][:10])
        assert paper.abstract.split() == item["paper"]["summary"].split()
        assert "\n" not in paper.abstract
        assert paper.links["arxiv"].endswith(paper.arxiv_id)
    assert any("\n" in item["paper"]["title"] for item in raw)  # the file does wrap titles


def test_truncated_api_file_is_a_clear_parse_error(shared_dir: Path) -> None:
    data = (shared_dir / "formats" / "hf-daily-papers-api.json").read_bytes()
    with pytest.raises(ParseError, match="invalid JSON \\(truncated or malformed\\)"):
        parse(data[: len(data) // 2], today=TODAY)


def test_bare_paper_objects_and_wrapped_lists() -> None:
    payload = {
        "papers": [
            {"id": "2501.00007v3", "title": "A\n  Wrapped\n  Title", "summary": "Line one\nline two.\n\nNew para."},
            {"title": "No Id Here", "abstract": "Plain.", "upvotes": "12", "authors": ["Ann Lee", " ", 5]},
            {"id": "not-an-arxiv-id", "title": "Odd Id"},
            {"summary": "An item without a title is skipped."},
            "not an object",
        ]
    }
    parsed = parse_json(json.dumps(payload).encode(), today=TODAY, listed_date=date(2025, 1, 2))
    assert parsed.listed_date == date(2025, 1, 2)
    first, second, third = parsed.papers
    assert (first.arxiv_id, first.title, first.abstract) == (
        "2501.00007",
        "A Wrapped Title",
        "Line one line two.\n\nNew para.",
    )
    assert (second.arxiv_id, second.upvotes, second.authors) == (None, 12, ["Ann Lee"])
    assert third.arxiv_id is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"hello": "world"}', "no list of papers"),
        (b"[]", "no papers found"),
        (b'[{"paper": {"summary": "no title"}}]', "no papers found"),
        (b"[1, 2, 3]", "no papers found"),
        (b"[" * 100_000, "invalid JSON"),
        (b'[{"title": "x"', "truncated"),
    ],
)
def test_json_without_papers_is_a_parse_error(data: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_json(data, today=TODAY)
