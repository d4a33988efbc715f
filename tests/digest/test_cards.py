"""One paper's card in the edition: where its title leads, the TL;DR, code, project page and comments, in the email's
shared body (both parts) and on the archive's edition page, which reuses it."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client

from digest.models import Edition
from digest.rendering import edition_body, edition_public_parts
from digest.rendering.body import EntryView, compact_count
from tests.factories import make_edition, make_paper

pytestmark = pytest.mark.django_db

DAY = date(2025, 3, 14)


def rich_paper(**fields):
    defaults = {
        "arxiv_id": "2603.04101",
        "title": "Folding Maps: Teaching Small Robots to Read Floor Plans",
        "ai_summary": "Hand-drawn floor plans are enough\n  for a small robot.",
        "github_repo": "https://github.com/example-lab/folding-maps",
        "github_stars": 1234,
        "project_page": "https://example-lab.github.io/folding-maps/",
        "num_comments": 12,
    }
    return make_paper(**{**defaults, **fields})


def views(*papers, day: date = DAY) -> list[EntryView]:
    edition = make_edition(date=day, papers=list(papers))
    return [entry.view for entry in edition_body(edition).entries]


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (0, "0"),
        (7, "7"),
        (999, "999"),
        (1000, "1k"),
        (1234, "1.2k"),
        (9960, "10k"),
        (12_345, "12k"),
        (2_500_000, "2.5M"),
    ],
)
def test_counts_read_as_a_reader_skims_them(count: int, shown: str) -> None:
    assert compact_count(count) == shown


def test_a_resolved_title_links_to_arxiv_and_an_unresolved_one_to_a_title_search() -> None:
    resolved, unresolved = views(
        make_paper(arxiv_id="2503.00001", title="Known"),
        make_paper(arxiv_id=None, title="Quiet  Gradients: “whispers” & more", links={}),
    )
    assert resolved.url == "https://arxiv.org/abs/2503.00001"
    assert unresolved.url == (
        "https://arxiv.org/search/?query=Quiet+Gradients%3A+%E2%80%9Cwhispers%E2%80%9D+%26+more&searchtype=title"
    )
    assert unresolved.links == ()  # nothing else to open until it is found
    # Found, but its id belongs to another row (left unmerged): the title still opens the arXiv page found.
    found_elsewhere = {"arxiv": "https://arxiv.org/abs/2603.09999"}
    (duplicate,) = views(make_paper(arxiv_id=None, title="Dup", links=found_elsewhere), day=date(2025, 3, 15))
    assert (duplicate.url, duplicate.links) == ("https://arxiv.org/abs/2603.09999", ())


def test_links_code_with_stars_project_page_comments_then_the_papers_pages_each_with_its_kind() -> None:
    (view,) = views(rich_paper(links={"hf": "https://huggingface.co/papers/2603.04101", "slides": "https://s.io/x"}))
    assert view.links == (
        ("Code · 1.2k ★", "https://github.com/example-lab/folding-maps"),
        ("Project page", "https://example-lab.github.io/folding-maps/"),
        ("12 comments", "https://huggingface.co/papers/2603.04101"),
        ("PDF", "https://arxiv.org/pdf/2603.04101"),
        ("Slides", "https://s.io/x"),
    )
    assert view.link_kinds == ("code", "project", "page", "pdf", "other")
    assert view.url == "https://arxiv.org/abs/2603.04101"  # the title's link, not repeated under it
    assert view.tldr == "Hand-drawn floor plans are enough for a small robot."


def test_without_comments_stars_or_a_safe_url_the_links_say_less() -> None:
    one, none, unsafe = views(
        rich_paper(arxiv_id="2603.00001", num_comments=1, github_stars=None),
        rich_paper(arxiv_id="2603.00002", num_comments=0, github_stars=0, project_page=""),
        rich_paper(arxiv_id="2603.00003", github_repo="javascript:alert(1)", project_page="ftp://x.org/p"),
    )
    assert [label for label, _ in one.links][:3] == ["Code", "Project page", "1 comment"]
    assert [label for label, _ in none.links] == ["Code", "Paper page", "PDF"]
    assert [kind for kind in unsafe.link_kinds] == ["page", "pdf"]


def test_both_parts_show_the_tldr_and_links_and_the_text_part_the_title_link() -> None:
    edition = make_edition(date=DAY, papers=[rich_paper(), make_paper(arxiv_id=None, title="Unresolved one")])
    html, text = edition_public_parts(edition_body(edition))

    assert '<span class="tp-label" style="font-weight: bold;">TL;DR</span> Hand-drawn floor plans' in html
    assert ">Code · 1.2k ★</a>" in html and ">12 comments</a>" in html and ">Project page</a>" in html
    lines = text.splitlines()
    assert lines[lines.index("Folding Maps: Teaching Small Robots to Read Floor Plans") + 1] == (
        "https://arxiv.org/abs/2603.04101"
    )
    assert lines[lines.index("Unresolved one") + 1] == "https://arxiv.org/search/?query=Unresolved+one&searchtype=title"
    assert "TL;DR: Hand-drawn floor plans are enough for a small robot." in text
    assert "Code · 1.2k ★: https://github.com/example-lab/folding-maps" in text
    assert "12 comments: https://huggingface.co/papers/2603.04101" in text


def test_a_paper_with_none_of_the_extras_has_no_empty_lines_for_them() -> None:
    edition = make_edition(date=DAY, papers=[make_paper(arxiv_id=None, title="Bare", authors=[], abstract="")])
    html, text = edition_public_parts(edition_body(edition))
    content = html[html.index("<body") :]
    assert 'class="tp-tldr"' not in content and 'class="tp-links"' not in content and "tp-abstract" not in content
    card = text[text.index("#1") :].split("--")[0]
    assert card.strip().splitlines() == ["#1", "Bare", "https://arxiv.org/search/?query=Bare&searchtype=title"]


def test_the_archive_page_shows_the_same_cards(client: Client) -> None:
    make_edition(date=DAY, papers=[rich_paper()], status=Edition.Status.SENT)
    page = client.get("/editions/2025-03-14/").content.decode()

    assert 'href="https://arxiv.org/abs/2603.04101"' in page
    assert "TL;DR</span> Hand-drawn floor plans are enough for a small robot." in page
    assert ">Code · 1.2k ★</a>" in page and ">12 comments</a>" in page and ">Project page</a>" in page
