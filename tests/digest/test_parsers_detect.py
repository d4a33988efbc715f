from __future__ import annotations

import codecs
from datetime import date

import pytest

from digest.parsers import ParseError, detect_format, parse

TODAY = date(2026, 6, 1)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'  [{"paper": {}}]', "json"),
        (codecs.BOM_UTF8 + b'{"papers": []}', "json"),
        (b'<?xml version="1.0"?>\n<!-- c -->\n<rss version="2.0"></rss>', "feed"),
        (b'<feed xmlns="http://www.w3.org/2005/Atom"></feed>', "feed"),
        (b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="x"></rdf:RDF>', "feed"),
        (b"<!DOCTYPE html><html><body></body></html>", "html"),
        (b"<div><h3><a href='/papers/1'>x</a></h3></div>", "html"),
        (b"new\n\nMar 14\n\nTitle\n\nAbstract.", "text"),
        ("Mar 14\n\nTitle\n\nAbstract.".encode("utf-16"), "text"),
    ],
)
def test_detect_format(data: bytes, expected: str) -> None:
    assert detect_format(data) == expected


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"", "empty document"), (b" \n\t", "empty document"), (bytes(range(256)) * 8, "binary data")],
)
def test_empty_and_binary_input_are_parse_errors_in_every_format(data: bytes, reason: str) -> None:
    for fmt in ("auto", "text", "html", "json", "feed"):
        with pytest.raises(ParseError, match=reason):
            parse(data, format=fmt, today=TODAY)


def test_unknown_format_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="unknown format"):
        parse(b"x", format="pdf", today=TODAY)


def test_utf16_page_parses() -> None:
    parsed = parse("Mar 14\n\nA Title\n\nIts abstract.".encode("utf-16"), today=TODAY)
    assert parsed.papers[0].title == "A Title"
