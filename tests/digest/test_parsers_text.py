from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from digest.parsers import ParseError, detect_format, parse
from digest.parsers.text import parse_text

TODAY = date(2026, 6, 1)
BANNER = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nbyAK and the research community\n\n"


def _seed_lines(path: Path) -> list[str]:
    """The page's non-blank lines after its header (banner lines and the date line)."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    date_index = next(i for i, line in enumerate(lines[:10]) if re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}", line))
    return lines[date_index + 1 :]


@pytest.fixture(scope="module")
def seeds(shared_dir: Path) -> list[Path]:
    paths = sorted((shared_dir / "seeds").glob("*.txt"))
    assert len(paths) == 2
    return paths


def test_seed_pages_give_every_title_and_complete_abstract(seeds: list[Path]) -> None:
    counts = []
    for path in seeds:
        data = path.read_bytes()
        assert detect_format(data) == "text"
        parsed = parse(data, today=TODAY, listed_date=date(2025, 1, 1))
        lines = _seed_lines(path)
        # Titles and abstracts alternate line by line on these pages: each parsed field is one whole line.
        assert [p.title for p in parsed.papers] == lines[0::2]
        assert [p.abstract for p in parsed.papers] == lines[1::2]
        for paper in parsed.papers:
            assert paper.title and paper.abstract
            assert paper.abstract[0].isupper() and paper.abstract.endswith(".")
            assert paper.title != "Subscribe" and not paper.title.startswith("Get trending")
        counts.append(len(parsed.papers))
    assert counts == [11, 26]


def test_seed_dates_take_the_year_of_the_operator_date(seeds: list[Path]) -> None:
    dates = [parse(p.read_bytes(), today=TODAY, listed_date=date(2024, 7, 1)).listed_date for p in seeds]
    assert dates == [date(2024, 3, 14), date(2024, 3, 21)]


def test_date_without_operator_date_is_never_in_the_future() -> None:
    page = (BANNER + "Mar 14\n\nA Title\n\nAn abstract.\n").encode()
    assert parse_text(page, today=date(2026, 3, 14)).listed_date == date(2026, 3, 14)
    assert parse_text(page, today=date(2026, 3, 13)).listed_date == date(2025, 3, 14)
    assert parse_text(page, today=date(2026, 1, 2)).listed_date == date(2025, 3, 14)


def test_explicit_year_in_the_date_line_wins() -> None:
    page = b"March 14, 2023\n\nA Title\n\nAn abstract.\n"
    assert parse_text(page, today=TODAY, listed_date=date(2025, 1, 1)).listed_date == date(2023, 3, 14)


def test_feb_29_falls_back_to_the_last_leap_year() -> None:
    page = b"Feb 29\n\nA Title\n\nAn abstract.\n"
    assert parse_text(page, today=date(2026, 6, 1)).listed_date == date(2024, 2, 29)


def test_page_without_date_line_uses_the_operator_date() -> None:
    page = (BANNER + "A Title\n\nAn abstract.\n").encode()
    assert parse_text(page, today=TODAY, listed_date=date(2025, 5, 5)).listed_date == date(2025, 5, 5)
    assert parse_text(page, today=TODAY).listed_date is None


@pytest.mark.parametrize(
    "banner",
    [
        "Get trending papers in your email inbox once a day!",
        "Get trending papers in your email inbox!",
        "by AK and the research community",
        "byAK and the research community",
        "new",
        "Subscribe",
    ],
)
def test_banner_variants_are_skipped(banner: str) -> None:
    page = f"{banner}\n\nMar 3\n\nFirst Paper\n\nIts abstract.\n".encode()
    parsed = parse_text(page, today=TODAY)
    assert [p.title for p in parsed.papers] == ["First Paper"]


def test_short_abstracts_and_short_titles_keep_their_places() -> None:
    # No length rule: a one-word abstract is still the abstract, a long title is still the title.
    long_title = "A " + "Very " * 40 + "Long Title"
    page = f"Mar 3\n\nRT-H\n\nShort.\n\n{long_title}\n\nYes\n".encode()
    parsed = parse_text(page, today=TODAY)
    assert [(p.title, p.abstract) for p in parsed.papers] == [("RT-H", "Short."), (long_title, "Yes")]


def test_hard_wrapped_paragraphs_crlf_and_bom_are_unwrapped() -> None:
    page = "\ufeffMar 3\r\n\r\nA Title That\r\n  Wraps\r\n\r\nAn abstract\r\nthat wraps. It ends here.\r\n".encode()
    parsed = parse_text(page, today=TODAY)
    assert parsed.papers[0].title == "A Title That Wraps"
    assert parsed.papers[0].abstract == "An abstract that wraps. It ends here."


def test_an_abstract_split_in_two_paragraphs_stays_one_abstract() -> None:
    page = (
        b"Mar 3\n\nFirst Paper\n\nWe study a thing. It is hard.\n\n"
        b"We show three results. Each is new. The code is public.\n\nSecond Paper\n\nIts abstract.\n"
    )
    parsed = parse_text(page, today=TODAY)
    assert [p.title for p in parsed.papers] == ["First Paper", "Second Paper"]
    assert parsed.papers[0].abstract.endswith("The code is public.")
    assert parsed.papers[0].abstract.startswith("We study a thing.")


def test_upvote_counts_between_cards_attach_to_the_next_paper() -> None:
    page = b"Mar 3\n\n42\n\nFirst Paper\n\nIts abstract.\n\n7\n\nSecond Paper\n\nAnother abstract.\n"
    parsed = parse_text(page, today=TODAY)
    assert [(p.title, p.upvotes) for p in parsed.papers] == [("First Paper", 42), ("Second Paper", 7)]


def test_legacy_encoding_is_decoded() -> None:
    page = "Mar 3\n\nCaf\u00e9 Models: A Na\u00efve Study\n\nR\u00e9sum\u00e9 of results.\n".encode("cp1252")
    assert parse_text(page, today=TODAY).papers[0].title == "Caf\u00e9 Models: A Na\u00efve Study"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"   \n\n  ", "empty"),
        (BANNER.encode() + b"Mar 14\n", "no papers"),
        (b"\x00\x01\x02\x03garbage\x00" * 20, "binary"),
    ],
)
def test_pages_without_papers_are_parse_errors(data: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_text(data, today=TODAY)


@pytest.mark.parametrize(
    ("heading", "reference", "expected"),
    [
        ("Nov 6", date(2025, 3, 31), date(2024, 11, 6)),  # the page: last November, not next
        ("Mar 31", date(2025, 3, 31), date(2025, 3, 31)),  # the reference day itself
        ("Apr 1", date(2025, 3, 31), date(2024, 4, 1)),  # one day after: a year back
        ("Dec 31", date(2025, 1, 1), date(2024, 12, 31)),  # across New Year
        ("Jan 1", date(2025, 1, 1), date(2025, 1, 1)),
        ("29 Feb", date(2025, 3, 1), date(2024, 2, 29)),  # the last Feb 29 on or before it
        ("Feb 29", date(2024, 2, 28), date(2020, 2, 29)),
    ],
)
def test_a_date_without_a_year_is_the_latest_on_or_before_the_operator_date(
    heading: str, reference: date, expected: date
) -> None:
    page = (BANNER + f"{heading}\n\nA Title\n\nAn abstract.\n").encode()
    # ``today`` lies far after every reference: the operator's date decides, not the ingest day.
    assert parse_text(page, today=date(2030, 6, 1), listed_date=reference).listed_date == expected


def test_a_date_without_a_year_uses_today_when_no_operator_date_is_given() -> None:
    page = (BANNER + "Nov 6\n\nA Title\n\nAn abstract.\n").encode()
    assert parse_text(page, today=date(2025, 3, 31)).listed_date == date(2024, 11, 6)
    assert parse_text(page, today=date(2025, 11, 6)).listed_date == date(2025, 11, 6)


def test_a_day_that_no_year_has_is_not_a_date() -> None:
    page = b"Apr 31\n\nA Title\n\nAn abstract.\n"
    parsed = parse_text(page, today=TODAY)
    # Not a heading: the page has no date (the operator's date stands in) and the line is read as a title.
    assert parsed.listed_date is None
    assert parsed.papers[0].title == "Apr 31"
