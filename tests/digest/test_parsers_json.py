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


FIXTURES = Path(__file__).parent / "fixtures"


def test_newer_api_fields_are_read_where_they_sit() -> None:
    parsed = parse((FIXTURES / "daily-papers-extras.json").read_bytes(), today=TODAY)

    full, bare, _odd = parsed.papers
    # On the paper object: ai_summary (unwrapped to one line), githubRepo, githubStars, projectPage.
    assert full.ai_summary == "Hand-drawn floor plans are enough for a small robot to find unseen rooms."
    assert full.github_repo == "https://github.com/example-lab/folding-maps"
    assert full.github_stars == 318
    assert full.project_page == "https://example-lab.github.io/folding-maps/"
    # On the item: numComments.
    assert full.num_comments == 7
    # Links keep the paper's own pages; the code and project page have fields of their own.
    assert full.links == {
        "arxiv": "https://arxiv.org/abs/2603.04101",
        "hf": "https://huggingface.co/papers/2603.04101",
    }
    # Absent fields stay empty, and zero comments is a count, not an absence.
    assert (bare.ai_summary, bare.github_repo, bare.github_stars, bare.project_page) == ("", "", None, "")
    assert bare.num_comments == 0


def test_newer_api_fields_of_the_wrong_type_are_left_out_not_fatal() -> None:
    odd = parse((FIXTURES / "daily-papers-extras.json").read_bytes(), today=TODAY).papers[2]

    assert odd.title == "Odd Fields Everywhere" and odd.arxiv_id == "2603.04103"
    assert odd.ai_summary == ""  # a number is not a summary
    assert odd.github_repo == ""  # a javascript: URL never reaches a reader
    assert odd.github_stars is None  # "lots" is not a count
    assert odd.project_page == ""  # a relative link leads nowhere from an email
    assert odd.num_comments == 5  # the item's -3 is no count; the paper's own 5 is


def test_html_hydration_props_carry_the_newer_fields_too() -> None:
    items = json.loads((FIXTURES / "daily-papers-extras.json").read_bytes())
    props = json.dumps({"dailyPapers": items[:1], "date": "2026-03-03"})
    escaped = props.replace("&", "&amp;").replace('"', "&quot;")
    data = f'<html><body><div data-target="DailyPapers" data-props="{escaped}"></div></body></html>'.encode()

    (paper,) = parse(data, today=TODAY).papers

    assert (paper.github_stars, paper.num_comments) == (318, 7)
    assert paper.ai_summary.startswith("Hand-drawn floor plans")
