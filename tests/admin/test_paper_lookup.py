"""The paper admin's view of the source's extras and the title lookup: shown, editable where a curator may correct
them (and then kept), an arXiv id a curator can fill by hand, and an action that looks papers up now."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

import digest.tasks  # noqa: F401  (registers the lookup task in this process, as a worker's autodiscovery does)
from digest.models import LookupStatus, Paper
from tests.digest.local_http import Route
from tests.digest.lookup_answers import ATOM, Entry, arxiv_feed, lookup_apis
from tests.factories import make_paper

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:digest_paper_changelist")
TITLE = "Folding Maps: Teaching Small Robots to Read Floor Plans"


@pytest.fixture(autouse=True)
def own_cache(settings) -> None:
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}


def change(root_client: Client, paper: Paper, **fields: str):
    data = {
        "title": paper.title,
        "abstract": paper.abstract,
        "arxiv_id": paper.arxiv_id or "",
        "ai_summary": paper.ai_summary,
        "github_repo": paper.github_repo,
        "project_page": paper.project_page,
        "boost": "0",
        "note": "",
        "appearances-TOTAL_FORMS": "0",
        "appearances-INITIAL_FORMS": "0",
        **fields,
    }
    return root_client.post(reverse("admin:digest_paper_change", args=[paper.pk]), data)


def test_the_change_page_shows_the_extras_and_the_lookup(root_client: Client) -> None:
    paper = make_paper(
        arxiv_id=None,
        ai_summary="Sketches are enough.",
        github_stars=318,
        num_comments=7,
        lookup_status=LookupStatus.NOT_FOUND,
        lookup_note="arXiv: no results",
    )
    content = root_client.get(reverse("admin:digest_paper_change", args=[paper.pk])).content.decode()

    for text in ("From the source", "Sketches are enough.", "318", "Title lookup", "No exact title match"):
        assert text in content
    assert "arXiv: no results" in content
    assert 'name="arxiv_id"' in content  # a curator may fill what the lookup could not find


def test_edited_extras_are_marked_so_ingestion_keeps_them(root_client: Client) -> None:
    paper = make_paper(ai_summary="The source's summary.", project_page="https://example.org/p")

    response = change(root_client, paper, ai_summary="A curator's summary.", github_repo="github.com/example/x")

    assert response.status_code == 302, response.context["adminform"].form.errors
    paper.refresh_from_db()
    assert paper.ai_summary == "A curator's summary."
    assert paper.github_repo == "https://github.com/example/x"  # pasted without a scheme: https
    assert paper.edited_fields == ["ai_summary", "github_repo"]  # the untouched project page is not marked


def test_a_curator_fills_the_arxiv_id_by_hand(root_client: Client) -> None:
    make_paper(arxiv_id="2603.00001")
    paper = make_paper(arxiv_id=None)

    invalid = change(root_client, paper, arxiv_id="not an id")
    taken = change(root_client, paper, arxiv_id="2603.00001")
    saved = change(root_client, paper, arxiv_id=" arXiv:2603.04101v2 ")

    assert "Not an arXiv id" in invalid.content.decode()
    assert "Paper with this Arxiv id already exists." in taken.content.decode()
    assert saved.status_code == 302
    paper.refresh_from_db()
    assert paper.arxiv_id == "2603.04101"  # bare: no prefix, no version


def test_the_look_up_action_queues_unresolved_papers_and_they_are_resolved(
    root_client: Client, django_capture_on_commit_callbacks
) -> None:
    unresolved = make_paper(arxiv_id=None, title=TITLE)
    known = make_paper(arxiv_id="2603.00001")
    answer = Route(body=arxiv_feed(Entry("2603.04101", TITLE)), content_type=ATOM)

    with lookup_apis(arxiv=answer), django_capture_on_commit_callbacks(execute=True):
        response = root_client.post(
            CHANGELIST, {"action": "look_up", "_selected_action": [unresolved.pk, known.pk]}, follow=True
        )

    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages == ["Queued 1 paper(s) for a title lookup; 1 skipped (already have an id, or hidden)."]
    unresolved.refresh_from_db()
    assert (unresolved.arxiv_id, unresolved.lookup_status) == ("2603.04101", LookupStatus.FOUND)
    listed = root_client.get(CHANGELIST, {"lookup_status__exact": LookupStatus.FOUND}).context["cl"].result_list
    assert list(listed) == [unresolved]


def test_the_look_up_action_says_when_lookups_are_off(root_client: Client) -> None:
    paper = make_paper(arxiv_id=None)
    response = root_client.post(CHANGELIST, {"action": "look_up", "_selected_action": [paper.pk]}, follow=True)
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Title lookups are off: ARXIV_API_URL and HF_API_URL are empty."
    ]
