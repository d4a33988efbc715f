"""The shared edition body and the archive: what every reader and the web archive see, with no personal links."""

from __future__ import annotations

from datetime import date

import pytest

from digest.models import Edition
from digest.rendering import edition_archive_html, edition_snapshot, wrap_long_lines
from tests.factories import make_edition, make_paper

pytestmark = pytest.mark.django_db

DAY = date(2025, 3, 14)


@pytest.fixture
def edition() -> Edition:
    papers = [
        make_paper(
            title="Scaling laws for retrieval-augmented agents",
            abstract="Agents that retrieve documents before answering scale differently. " * 8,
            authors=[f"Author {i}" for i in range(9)],
            upvotes=120,
            links={"code": "https://github.com/example/agents", "evil": "javascript:alert(1)"},
        ),
        make_paper(title="Diffusion models for proteins", abstract="We design proteins with diffusion.", upvotes=40),
        make_paper(title="A survey of graph neural networks", abstract="Graphs everywhere.", upvotes=3),
    ]
    return make_edition(date=DAY, papers=papers, status=Edition.Status.APPROVED, subject="")


def test_wrap_long_lines_breaks_at_spaces_only() -> None:
    text = "a" * 50 + " " + "b" * 50 + "\n" + "c" * 120
    wrapped = wrap_long_lines(text, width=60)
    assert wrapped.split("\n") == ["a" * 50, "b" * 50, "c" * 120]
    assert wrap_long_lines("short\nlines", width=60) == "short\nlines"


def test_archive_has_the_content_without_personal_links(edition: Edition) -> None:
    html = edition_archive_html(edition)
    assert "Scaling laws for retrieval-augmented agents" in html
    assert "/unsubscribe/" not in html and "/preferences/" not in html
    assert "View this edition in your browser" not in html  # the page does not link to itself
    assert "<body" not in html


def test_snapshot_is_kept_and_shown_by_the_archive(edition: Edition) -> None:
    edition_snapshot(edition)
    edition.refresh_from_db()
    assert "Scaling laws" in edition.rendered_html and "Scaling laws" in edition.rendered_text
    assert "/unsubscribe/" not in edition.rendered_html + edition.rendered_text

    # Later curator edits to a paper do not change what was sent.
    paper = edition.entries.first().paper
    paper.title = "Renamed afterwards"
    paper.save()
    fresh = Edition.objects.get(pk=edition.pk)
    assert "Renamed afterwards" not in edition_archive_html(fresh)
    edition_snapshot(fresh)  # a second call keeps the first snapshot
    assert "Renamed afterwards" not in Edition.objects.get(pk=edition.pk).rendered_html
