"""TeX an abstract kept from its paper is shown as its text: in the card's excerpt and in the sentence a keyword
matched. The stored abstract is left as it came."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from digest.ingest import ingest_bytes
from digest.models import Paper
from digest.rendering import edition_archive_html, edition_body, keyword_section
from digest.rendering.tex import readable
from tests.factories import make_edition, make_paper

SITE = "https://matcha-model.github.io/"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        # What a trending page served for \href{...}{\textcolor{blue}{...}}: the names gone, the braces left.
        (f"The website is at https://matcha-model.github.io{{blue{{{SITE}}}}}.", f"The website is at {SITE}."),
        (f"Code at {{blue{{{SITE}}}}}.", f"Code at {SITE}."),
        ("Code: {https://example.org/code}", "Code: https://example.org/code"),
        (r"See \textcolor{blue}{\url{https://x.org/a}} now", "See https://x.org/a now"),
        (r"\href{https://a.org}{\textcolor{blue}{https://a.org/}} here", "https://a.org/ here"),
        (r"\href{https://a.org}{the page} here", "the page here"),
        (
            r"5\% better \& faster with \emph{sparse} \textbf{\emph{attention}}",
            "5% better & faster with sparse attention",
        ),
        (r"\LaTeX{} typeset, and so on \ldots", "LaTeX typeset, and so on …"),
        # Braces that are not TeX leftovers, and plain text, are untouched.
        ("inputs in {0, 1} and sets {a, b}", "inputs in {0, 1} and sets {a, b}"),
        ("No markup at all.", "No markup at all."),
    ],
)
def test_tex_is_shown_as_the_text_it_wraps(raw: str, shown: str) -> None:
    assert readable(raw) == shown


@pytest.mark.django_db
def test_a_real_abstracts_leftover_markup_is_gone_from_the_card_and_the_matched_sentence(shared_dir: Path) -> None:
    ingest_bytes((shared_dir / "seeds" / "003_1f8223cedd6efc54.txt").read_bytes(), origin="seed 003")
    paper = Paper.objects.get(title__startswith="Chat with the Environment")
    assert "{blue{" in paper.abstract  # stored as the page had it
    edition = make_edition(date=date(2025, 3, 21), papers=[paper, make_paper()])

    body = edition_body(edition)
    # "website" occurs only in the abstract's last sentence, past the excerpt: the card quotes that sentence.
    section_html, section_text = keyword_section(body, ["website"])
    assert f"{SITE}." in section_text and SITE in section_html
    view = body.entries[0].view
    for shown in (section_html, section_text, view.abstract, view.full_abstract, edition_archive_html(edition)):
        assert "{blue{" not in shown and "github.io{" not in shown
    assert Paper.objects.get(pk=paper.pk).abstract == paper.abstract
