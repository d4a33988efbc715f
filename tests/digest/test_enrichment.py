"""Every paper reachable: the title lookup against a local stand-in for the arXiv and Hugging Face APIs."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest

from digest.enrichment import EnrichOutcome, enrich_paper, unresolved_paper_ids
from digest.lookups import LookupDeferred
from digest.models import LookupStatus, Paper
from tests.digest.local_http import Route
from tests.digest.lookup_answers import (
    ATOM,
    JSON,
    Entry,
    arxiv_error_feed,
    arxiv_feed,
    hf_answer,
    lookup_apis,
)
from tests.factories import make_paper

pytestmark = pytest.mark.django_db

TITLE = "Folding Maps: Teaching Small Robots to Read Floor Plans"
BIBLIOGRAPHIC = ("arxiv_id", "title", "abstract", "authors", "links", "published", "ai_summary", "github_repo")


@pytest.fixture(autouse=True)
def own_cache(settings) -> None:
    """A cache key prefix of this test's own: cached answers and throttle turns never leak between tests."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}


def unresolved(**fields) -> Paper:
    fields.setdefault("title", TITLE)
    return make_paper(arxiv_id=None, authors=[], links={}, abstract="", **fields)


def snapshot(paper: Paper) -> dict[str, object]:
    paper.refresh_from_db()
    return {name: getattr(paper, name) for name in BIBLIOGRAPHIC}


def query_of(path: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(path).query)


def test_found_on_arxiv_fills_id_authors_and_links() -> None:
    paper = unresolved()
    answer = arxiv_feed(
        Entry("2603.09999", "Folding Maps: Teaching Small Robots to Read Floor Plans at City Scale"),
        Entry(
            "2603.04101", "Folding Maps: Teaching Small Robots to\n  Read Floor Plans", published="2026-03-02T17:40:00Z"
        ),
    )
    with lookup_apis(arxiv=Route(body=answer, content_type=ATOM)) as server:
        result = enrich_paper(paper_id=paper.pk)

    assert result.outcome == EnrichOutcome.FOUND
    paper.refresh_from_db()
    assert paper.arxiv_id == "2603.04101"  # the exact title, not the longer one listed first
    assert paper.authors == ["Rosa Quill", "Tomas Fern"]
    assert paper.links == {"arxiv": "https://arxiv.org/abs/2603.04101", "pdf": "https://arxiv.org/pdf/2603.04101"}
    assert paper.abstract.startswith("We teach small wheeled robots")
    assert paper.published == date(2026, 3, 2)
    assert (paper.lookup_status, paper.lookup_note) == (LookupStatus.FOUND, "found on arXiv")
    assert paper.link_url == "https://arxiv.org/abs/2603.04101"
    # One request, a title phrase without the punctuation that would end it, and arXiv asked first.
    ((path, headers),) = server.requests
    assert query_of(path)["search_query"] == ['ti:"Folding Maps Teaching Small Robots to Read Floor Plans"']
    assert "Trending Papers" in headers["User-Agent"]


def test_not_found_anywhere_leaves_the_paper_and_remembers_the_miss(settings) -> None:
    paper = unresolved()
    near_miss = arxiv_feed(Entry("2603.04101", "Folding Maps: Teaching Small Robots to Read Floor Plans Twice"))
    with lookup_apis(
        arxiv=Route(body=near_miss, content_type=ATOM), hf=Route(body=hf_answer(), content_type=JSON)
    ) as server:
        before = snapshot(paper)
        result = enrich_paper(paper_id=paper.pk)
        assert result.outcome == EnrichOutcome.NOT_FOUND
        assert snapshot(paper) == before
        assert paper.lookup_status == LookupStatus.NOT_FOUND
        assert "none with exactly this title" in paper.lookup_note and "Hugging Face: no results" in paper.lookup_note
        assert paper.link_url.startswith("https://arxiv.org/search/?query=Folding+Maps")
        assert len(server.requests) == 2

        # The miss is remembered: the next ingest's lookup asks nobody.
        assert enrich_paper(paper_id=paper.pk).outcome == EnrichOutcome.NOT_FOUND
        assert len(server.requests) == 2
        assert paper.pk not in unresolved_paper_ids(limit=10)

        # Once ENRICH_MISS_HOURS have passed (here: none), the title is asked about again.
        settings.ENRICH_MISS_HOURS = 0
        assert paper.pk in unresolved_paper_ids(limit=10)


def test_hugging_face_finds_what_arxiv_did_not_and_brings_the_extras() -> None:
    paper = unresolved()
    hf_paper = {
        "id": "2603.04101",
        "title": TITLE,
        "summary": "Robots, floor plans.",
        "authors": [{"name": "Rosa Quill"}],
        "ai_summary": "Sketches are enough.",
        "githubRepo": "https://github.com/example-lab/folding-maps",
        "githubStars": 318,
        "projectPage": "https://example-lab.github.io/folding-maps/",
    }
    with lookup_apis(
        arxiv=Route(body=arxiv_feed(), content_type=ATOM), hf=Route(body=hf_answer(hf_paper), content_type=JSON)
    ) as server:
        result = enrich_paper(paper_id=paper.pk)

    assert result.outcome == EnrichOutcome.FOUND
    paper.refresh_from_db()
    assert paper.arxiv_id == "2603.04101"
    assert paper.links["hf"] == "https://huggingface.co/papers/2603.04101"
    assert (paper.tldr, paper.github_stars) == ("Sketches are enough.", 318)
    assert paper.code_url == "https://github.com/example-lab/folding-maps"
    assert paper.lookup_note == "found on Hugging Face"
    assert query_of(server.requests[1][0])["q"] == ["Folding Maps Teaching Small Robots to Read Floor Plans"]


def test_rate_limited_is_deferred_with_nothing_lost_then_found_later() -> None:
    paper = unresolved()
    found = arxiv_feed(Entry("2603.04101", TITLE))
    answers = [Route(status=429, body=b"slow down", headers={"Retry-After": "1"}), Route(body=found, content_type=ATOM)]
    with lookup_apis(arxiv=answers) as server:
        before = snapshot(paper)
        with pytest.raises(LookupDeferred) as deferred:
            enrich_paper(paper_id=paper.pk)
        assert deferred.value.retry_after == 1.0
        assert snapshot(paper) == before
        assert (paper.lookup_status, paper.looked_up_at) == (LookupStatus.UNTRIED, None)
        assert paper.pk in unresolved_paper_ids(limit=10)  # not remembered as a miss

        # The server asked everyone to wait: a caller that may not wait is deferred without a request.
        with pytest.raises(LookupDeferred):
            enrich_paper(paper_id=paper.pk, max_wait=0.0)
        assert len(server.requests) == 1

        # Later (the task's retry), the lookup goes through.
        started = time.time()
        assert enrich_paper(paper_id=paper.pk).outcome == EnrichOutcome.FOUND
        assert server.arrived[-1] - started >= 0.5  # it waited out the rest of the pause first
    paper.refresh_from_db()
    assert paper.arxiv_id == "2603.04101"


def test_a_timeout_is_deferred_and_logged_with_the_paper_unchanged(caplog) -> None:
    paper = unresolved()
    with lookup_apis(arxiv=Route(body=arxiv_feed(), content_type=ATOM, delay=3.0), ENRICH_TIMEOUT=0.3):
        before = snapshot(paper)
        with caplog.at_level(logging.WARNING, logger="digest.enrichment"), pytest.raises(LookupDeferred):
            enrich_paper(paper_id=paper.pk)

    assert snapshot(paper) == before
    assert paper.lookup_status == LookupStatus.UNTRIED
    assert any("deferred" in r.getMessage() and "timed out after 0.3 s" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("api", "body", "reason"),
    [
        ("arxiv", b"<html><body>Rate exceeded.</body></html>", "not an Atom feed"),
        ("arxiv", arxiv_feed(Entry("2603.04101", TITLE))[:400], "not an Atom feed"),
        ("arxiv", arxiv_error_feed("incorrect search_query format"), "arXiv reported an error: incorrect"),
        ("hf", b"<!doctype html><p>Oops</p>", "not JSON"),
        ("hf", b'{"error": "Invalid query"}', "without a list of papers"),
    ],
)
def test_a_malformed_answer_is_a_clear_log_line_and_the_paper_is_unchanged(
    caplog, api: str, body: bytes, reason: str
) -> None:
    paper = unresolved()
    route = Route(body=body, content_type=ATOM if api == "arxiv" else JSON)
    with lookup_apis(**{api: route}):
        before = snapshot(paper)
        with caplog.at_level(logging.ERROR, logger="digest.enrichment"):
            result = enrich_paper(paper_id=paper.pk)

    assert result.outcome == EnrichOutcome.FAILED
    assert snapshot(paper) == before
    assert paper.lookup_status == LookupStatus.FAILED and reason in paper.lookup_note
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "title lookup failed" in line and "Folding Maps" in line and "paper left unchanged" in line
    assert reason in line


def test_an_http_error_that_is_not_worth_retrying_is_a_failure() -> None:
    paper = unresolved()
    with lookup_apis(arxiv=Route(status=400, body=b"bad query")):
        result = enrich_paper(paper_id=paper.pk)
    assert result.outcome == EnrichOutcome.FAILED
    assert "HTTP 400" in result.note


def test_curator_edits_are_never_overwritten_only_empty_fields_are_filled() -> None:
    paper = make_paper(
        arxiv_id=None,
        title=TITLE,
        title_edited=True,
        abstract="",
        abstract_edited=True,
        authors=["R. Quill (as the curator wrote it)"],
        links={"page": "https://example.org/blog/folding-maps", "pdf": "https://example.org/mirror.pdf"},
        ai_summary="",
        edited_fields=["ai_summary"],
        pinned=True,
        boost=1.5,
        note="Keep an eye on this one",
    )
    hf_paper = {
        "id": "2603.04101",
        "title": TITLE.upper(),
        "summary": "From the source.",
        "authors": [{"name": "Rosa Quill"}],
        "ai_summary": "From the source.",
        "githubRepo": "https://github.com/example-lab/folding-maps",
    }
    with lookup_apis(hf=Route(body=hf_answer(hf_paper), content_type=JSON)) as server:
        assert enrich_paper(paper_id=paper.pk).outcome == EnrichOutcome.FOUND

    # The curator's title is what was looked up; the source's upper-case spelling matched it, normalized.
    assert query_of(server.requests[0][0])["q"] == ["Folding Maps Teaching Small Robots to Read Floor Plans"]
    paper.refresh_from_db()
    assert paper.arxiv_id == "2603.04101"
    assert paper.title == TITLE  # never the source's spelling
    assert paper.authors == ["R. Quill (as the curator wrote it)"]
    assert paper.abstract == ""  # the curator emptied it on purpose
    assert paper.ai_summary == ""  # curated: left empty
    assert paper.github_repo == "https://github.com/example-lab/folding-maps"  # empty and not curated: filled
    assert paper.links == {
        "page": "https://example.org/blog/folding-maps",
        "pdf": "https://example.org/mirror.pdf",  # a key already taken keeps its value
        "arxiv": "https://arxiv.org/abs/2603.04101",
        "hf": "https://huggingface.co/papers/2603.04101",
    }
    assert (paper.pinned, paper.boost, paper.note) == (True, 1.5, "Keep an eye on this one")


def test_an_id_that_belongs_to_another_paper_is_linked_not_merged(caplog) -> None:
    owner = make_paper(arxiv_id="2603.04101", title="Folding Maps (v1 title)", abstract="The first version.")
    paper = unresolved()
    answer = Route(body=arxiv_feed(Entry("2603.04101", TITLE)), content_type=ATOM)
    with lookup_apis(arxiv=answer), caplog.at_level(logging.WARNING, logger="digest.enrichment"):
        result = enrich_paper(paper_id=paper.pk)

    assert result.outcome == EnrichOutcome.DUPLICATE
    paper.refresh_from_db()
    assert paper.arxiv_id is None  # the unique id stays with the row that had it
    assert paper.lookup_status == LookupStatus.DUPLICATE
    assert f"already belongs to paper #{owner.pk}" in paper.lookup_note
    assert paper.link_url == "https://arxiv.org/abs/2603.04101"  # readers can still open it
    owner.refresh_from_db()
    assert (owner.title, owner.abstract) == ("Folding Maps (v1 title)", "The first version.")
    assert paper.pk not in unresolved_paper_ids(limit=10)  # asking again would not change the answer
    assert any("left unmerged" in r.getMessage() for r in caplog.records)


def test_two_papers_with_one_title_are_not_guessed_between() -> None:
    paper = unresolved()
    answer = arxiv_feed(Entry("2603.04101", TITLE), Entry("2604.00001", TITLE))
    with lookup_apis(arxiv=Route(body=answer, content_type=ATOM)):
        result = enrich_paper(paper_id=paper.pk)
    assert result.outcome == EnrichOutcome.NOT_FOUND
    assert "2 papers share this title (2603.04101, 2604.00001)" in result.note


def test_papers_that_need_no_lookup_are_skipped_without_a_request() -> None:
    with lookup_apis(arxiv=Route(body=arxiv_feed(), content_type=ATOM)) as server:
        assert enrich_paper(paper_id=make_paper(arxiv_id="2603.00001").pk).outcome == EnrichOutcome.SKIPPED
        assert enrich_paper(paper_id=unresolved(hidden=True).pk).outcome == EnrichOutcome.SKIPPED
        assert enrich_paper(paper_id=999_999).outcome == EnrichOutcome.SKIPPED
        assert server.requests == []
    # Queued while lookups were on, run after they were turned off: skipped, not marked as a miss.
    paper = unresolved()
    assert enrich_paper(paper_id=paper.pk).outcome == EnrichOutcome.SKIPPED
    paper.refresh_from_db()
    assert paper.lookup_status == LookupStatus.UNTRIED


def test_requests_to_one_api_are_spaced_by_its_interval() -> None:
    papers = [unresolved(title=f"{TITLE} part {n}") for n in range(3)]
    with lookup_apis(arxiv=Route(body=arxiv_feed(), content_type=ATOM), ENRICH_ARXIV_INTERVAL=0.4) as server:
        started = time.time()
        for paper in papers:
            enrich_paper(paper_id=paper.pk)

    assert len(server.arrived) == 3
    # The third request's turn came two intervals after the first could go, whatever the latencies were.
    assert server.arrived[2] - started >= 0.8


def test_unresolved_selection_for_beat() -> None:
    never = unresolved(title="Never looked up")
    make_paper(title="Has an id")
    unresolved(title="Hidden", hidden=True)
    unresolved(title="Duplicate", lookup_status=LookupStatus.DUPLICATE)

    assert unresolved_paper_ids(limit=10) == [never.pk]
