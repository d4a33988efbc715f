"""Richer entries: the daily-papers API's TL;DR, code, stars, project page and comments stored on the paper, kept up
to date by ingestion without overwriting what a curator edited, and easy to reach for the email."""

from __future__ import annotations

import copy
import importlib
import json
from datetime import date
from pathlib import Path

import pytest
from django.apps import apps

from digest.ingest import ingest_bytes
from digest.models import Paper
from tests.factories import make_paper

pytestmark = pytest.mark.django_db

TODAY = date(2026, 6, 1)
FIXTURE = Path(__file__).parent / "fixtures" / "daily-papers-extras.json"


def _items() -> list[dict]:
    return json.loads(FIXTURE.read_bytes())


def _page(items: list[dict], *, listed: str) -> bytes:
    for item in items:
        item["publishedAt"] = f"{listed}T06:00:00.000Z"
    return json.dumps(items).encode()


def test_ingest_stores_the_newer_fields() -> None:
    ingest_bytes(FIXTURE.read_bytes(), origin="extras.json", today=TODAY)

    paper = Paper.objects.get(arxiv_id="2603.04101")
    assert paper.ai_summary.startswith("Hand-drawn floor plans")
    assert paper.tldr == "Hand-drawn floor plans are enough for a small robot to find unseen rooms."
    assert (paper.github_repo, paper.github_stars) == ("https://github.com/example-lab/folding-maps", 318)
    assert paper.code_url == paper.github_repo
    assert paper.project_page == "https://example-lab.github.io/folding-maps/"
    assert paper.num_comments == 7
    bare = Paper.objects.get(arxiv_id="2603.04102")
    assert (bare.ai_summary, bare.github_repo, bare.github_stars, bare.num_comments) == ("", "", None, 0)


def test_a_later_listing_updates_counts_and_fills_new_fields_but_an_older_one_rolls_nothing_back() -> None:
    items = _items()
    ingest_bytes(_page(copy.deepcopy(items), listed="2026-03-03"), origin="day 3", today=TODAY)
    later = copy.deepcopy(items)
    later[0]["paper"]["githubStars"] = 512
    later[0]["numComments"] = 9
    later[1]["paper"]["githubRepo"] = "https://github.com/example-lab/quiet"
    ingest_bytes(_page(later, listed="2026-03-04"), origin="day 4", today=TODAY)
    older = copy.deepcopy(items)
    older[0]["paper"]["githubStars"] = 100
    older[0]["numComments"] = 1
    ingest_bytes(_page(older, listed="2026-03-01"), origin="day 1, ingested late", today=TODAY)

    full = Paper.objects.get(arxiv_id="2603.04101")
    assert (full.github_stars, full.num_comments) == (512, 9)
    assert Paper.objects.get(arxiv_id="2603.04102").github_repo == "https://github.com/example-lab/quiet"


def test_curator_edits_to_the_newer_fields_survive_ingestion() -> None:
    ingest_bytes(_page(_items(), listed="2026-03-03"), origin="day 3", today=TODAY)
    Paper.objects.filter(arxiv_id="2603.04101").update(
        ai_summary="A curator's better summary.",
        github_repo="https://github.com/example-lab/folding-maps-official",
        edited_fields=["ai_summary", "github_repo"],
    )
    again = _items()
    again[0]["paper"]["ai_summary"] = "The source's newer summary."
    again[0]["paper"]["githubRepo"] = "https://github.com/someone/fork"
    again[0]["paper"]["projectPage"] = "https://example-lab.github.io/new-page/"
    again[0]["paper"]["githubStars"] = 999

    ingest_bytes(_page(again, listed="2026-03-04"), origin="day 4", today=TODAY)

    paper = Paper.objects.get(arxiv_id="2603.04101")
    assert paper.ai_summary == "A curator's better summary."
    assert paper.github_repo == "https://github.com/example-lab/folding-maps-official"
    # Not edited: the source's newer value is taken; counts always follow the newest listing.
    assert paper.project_page == "https://example-lab.github.io/new-page/"
    assert paper.github_stars == 999


def test_link_url_is_the_arxiv_page_once_resolved_and_a_title_search_until_then() -> None:
    resolved = make_paper(arxiv_id="2603.04101", title="Folding Maps")
    unresolved = make_paper(arxiv_id=None, title="Quiet  Gradients: \u201cwhispers\u201d & more")

    assert resolved.link_url == "https://arxiv.org/abs/2603.04101"
    assert unresolved.link_url == (
        "https://arxiv.org/search/?query=Quiet+Gradients%3A+%E2%80%9Cwhispers%E2%80%9D+%26+more&searchtype=title"
    )
    assert unresolved.arxiv_url == ""
    # Found by the lookup but its id belongs to another row: the arXiv page is still where the title leads.
    unresolved.links = {"arxiv": "https://arxiv.org/abs/2603.04102"}
    assert unresolved.link_url == "https://arxiv.org/abs/2603.04102"
    unresolved.links = {"arxiv": "javascript:alert(1)"}
    assert unresolved.link_url.startswith("https://arxiv.org/search/?query=")


def test_the_migration_moves_code_and_project_links_into_their_fields() -> None:
    migration = importlib.import_module("digest.migrations.0004_paper_enrichment")
    moved = make_paper(
        links={"arxiv": "https://arxiv.org/abs/1", "code": "https://github.com/a/b", "project": "https://a.io/"}
    )
    untouched = make_paper(links={"page": "https://example.org/post"})

    migration.move_code_and_project_links(apps, None)

    moved.refresh_from_db()
    assert (moved.github_repo, moved.project_page) == ("https://github.com/a/b", "https://a.io/")
    assert moved.links == {"arxiv": "https://arxiv.org/abs/1"}
    untouched.refresh_from_db()
    assert untouched.links == {"page": "https://example.org/post"} and untouched.github_repo == ""
