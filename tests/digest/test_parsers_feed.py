from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from digest.parsers import ParseError, detect_format, parse
from digest.parsers.feed import parse_feed

TODAY = date(2026, 6, 1)
FIXTURES = Path(__file__).parent / "fixtures"


def test_arxiv_rss() -> None:
    data = (FIXTURES / "arxiv.rss").read_bytes()
    assert detect_format(data) == "feed"
    parsed = parse(data, today=TODAY)
    assert parsed.format == "feed"
    assert parsed.listed_date == date(2025, 2, 4)
    first, second = parsed.papers
    assert first.title == "Gradient Gardens: Growing Networks One Neuron at a Time"
    assert first.arxiv_id == "2502.00011"
    assert first.authors == ["Ana Souza", "Bjorn Lind", "Chen Wei"]
    assert first.abstract == (
        "We grow a network during training by adding neurons where the loss gradient is largest. "
        "The grown networks match fixed ones at half the size."
    )
    assert second.title == "Tokenizers Dream in Bytes"
    assert second.arxiv_id == "2502.00022"
    assert second.abstract == "Byte-level models skip the tokenizer & its quirks."


def test_atom_feed_with_and_without_arxiv_ids() -> None:
    data = (FIXTURES / "arxiv.atom").read_bytes()
    assert detect_format(data) == "feed"
    parsed = parse(data, today=TODAY)
    first, second = parsed.papers
    assert (first.title, first.arxiv_id, first.published) == (
        "Walking on Ice: Learned Gaits for Slippery Ground",
        "2502.00333",
        date(2025, 2, 3),
    )
    assert first.authors == ["Eva Nilsson", "Farid Haddad"]
    assert first.abstract.startswith("Legged robots slip on ice.") and first.abstract.endswith("by 80%.")
    assert second.arxiv_id is None
    assert second.links == {"page": "https://example.org/papers/9"}
    assert parsed.listed_date == date(2025, 2, 5)


def test_a_path_or_url_as_content_is_never_opened(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_text('<rss version="2.0"><channel><item><title>Leaked</title></item></channel></rss>')
    with pytest.raises(ParseError):
        parse_feed(str(secret).encode(), today=TODAY)


@pytest.mark.parametrize(
    "data",
    [b"just some words", b"<html><body><p>hi</p></body></html>", b'<rss version="2.0"><channel></channel></rss>'],
)
def test_not_a_feed_is_a_parse_error(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse_feed(data, today=TODAY)
