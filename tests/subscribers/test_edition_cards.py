"""The reader's cards, end to end: a text page (no ids) ingested, its titles looked up against the local stand-in
for the arXiv and Hugging Face APIs by the task the ingest queues, the edition built and really sent into the .eml
outbox; then read as a reader reads it.

- a paper the lookup found links to arXiv, one it did not find to an arXiv title search, in both parts;
- what the lookup brought (TL;DR, code and stars, project page, comment count) shows in both parts;
- a keyword at character ~1,500 of an abstract, far past the excerpt, shows its sentence highlighted to the reader
  who follows it, and to nobody else.
"""

from __future__ import annotations

import email
import json
import re
import uuid
from datetime import UTC, date, datetime
from email.message import Message
from email.policy import default as default_policy
from pathlib import Path
from urllib.parse import urlencode

import pytest

from digest.ingest import ingest_bytes
from digest.models import Edition, LookupStatus, Paper
from digest.tasks import enrich_papers
from digest.trending import edition_build
from subscribers.delivery.body import clear_body_cache
from subscribers.delivery.operator import edition_send_now
from tests.digest.local_http import Route
from tests.digest.lookup_answers import ATOM, JSON, arxiv_feed, lookup_apis
from tests.subscribers.factories import make_subscriber

pytestmark = pytest.mark.django_db

DAY = date(2025, 3, 14)
FOUND = "Folding Maps: Teaching Small Robots to Read Floor Plans"
MISSED = "Quiet Gradients for Loud Data"
# A long abstract whose only mention of "diffusion" sits about 1,500 characters in.
FILLER = "We measure how gradient noise behaves when the data are loud and the step sizes are small. " * 16
LATE = "A final study shows the same quiet regime in score-based diffusion samplers as well."
MISSED_ABSTRACT = f"{FILLER}{LATE} We release code."
PAGE = (
    "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nbyAK and the research community\n\nMar 14\n\n"
    f"{FOUND}\n\nWe teach small wheeled robots to read floor plans drawn by hand.\n\n"
    f"{MISSED}\n\n{MISSED_ABSTRACT}\n"
).encode()
HF_ANSWER = json.dumps(
    [
        {
            "paper": {
                "id": "2603.04101",
                "title": FOUND,
                "summary": "We teach small wheeled robots to read floor plans drawn by hand.",
                "authors": [{"name": "Rosa Quill"}, {"name": "Tomas Fern"}],
                "ai_summary": "Hand-drawn floor plans are enough for a small robot to find unseen rooms.",
                "githubRepo": "https://github.com/example-lab/folding-maps",
                "githubStars": 1234,
                "projectPage": "https://example-lab.github.io/folding-maps/",
            },
            "publishedAt": "2025-03-13T06:00:00.000Z",
            "numComments": 12,
        }
    ]
).encode()


@pytest.fixture(autouse=True)
def own_cache(settings) -> None:
    """Cached lookup answers and throttle turns of this test only."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}


@pytest.fixture
def outbox(settings, tmp_path: Path) -> Path:
    settings.EMAIL_BACKEND = "config.mail.OutboxBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "outbox")
    return tmp_path / "outbox"


def _part(message: Message, kind: str) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == kind)
    return part.get_content()


def _flat(text: str) -> str:
    """The text part with its line wrapping undone, to find a sentence whatever column it was wrapped at."""
    return " ".join(text.split())


def _received(outbox: Path) -> dict[str, Message]:
    messages = [email.message_from_bytes(path.read_bytes(), policy=default_policy) for path in outbox.glob("*.eml")]
    return {str(m["To"]): m for m in messages}


@pytest.fixture
def sent(outbox: Path, django_capture_on_commit_callbacks, settings) -> dict[str, Message]:
    """The page ingested and looked up (arXiv knows neither title, Hugging Face knows one), built, sent."""
    # The cards' own targets, read straight from the email; the same links through the click redirect (the
    # default) are tests/subscribers/clicks/test_emailed_links.py's.
    settings.TRACK_CLICKS = False
    assert enrich_papers.name == "digest.tasks.enrich_papers"  # registered, as in a worker: queued by name
    with lookup_apis(
        arxiv=Route(body=arxiv_feed(), content_type=ATOM), hf=Route(body=HF_ANSWER, content_type=JSON)
    ) as server:
        # The ingest queues the lookup when it commits; the subscribers' tests run queued tasks in-process.
        with django_capture_on_commit_callbacks(execute=True):
            ingest_bytes(PAGE, origin="seed.txt", today=DAY)
        assert len(server.requests) == 4  # each title asked of arXiv, then of Hugging Face
    assert Paper.objects.get(title=FOUND).arxiv_id == "2603.04101"
    missed = Paper.objects.get(title=MISSED)
    assert (missed.arxiv_id, missed.lookup_status) == (None, LookupStatus.NOT_FOUND)
    assert MISSED_ABSTRACT.index("diffusion") > 1400

    edition = edition_build(date=DAY)
    assert sorted(edition.entries.values_list("paper__title", flat=True)) == sorted([FOUND, MISSED])
    Edition.objects.filter(pk=edition.pk).update(status=Edition.Status.APPROVED)
    edition.refresh_from_db()
    make_subscriber(email="diffusion@example.org", keywords=["Diffusion"])
    make_subscriber(email="robots@example.org", keywords=["robots"])
    make_subscriber(email="plain@example.org")
    clear_body_cache()
    result = edition_send_now(edition=edition, now=datetime(2025, 3, 14, 9, tzinfo=UTC), sleep=lambda _s: None)
    assert (result.sent, result.failed) == (3, 0)
    received = _received(outbox)
    assert set(received) == {"diffusion@example.org", "robots@example.org", "plain@example.org"}
    return received


def test_a_found_paper_links_to_arxiv_and_a_missed_one_to_an_arxiv_title_search(sent: dict[str, Message]) -> None:
    search = "https://arxiv.org/search/?" + urlencode({"query": MISSED, "searchtype": "title"})
    html, text = _part(sent["plain@example.org"], "text/html"), _part(sent["plain@example.org"], "text/plain")

    assert '<a href="https://arxiv.org/abs/2603.04101"' in html
    assert f'<a href="{search.replace("&", "&amp;")}"' in html
    # The text part gives the same address on the line under each title.
    lines = text.splitlines()
    assert lines[lines.index(FOUND) + 1] == "https://arxiv.org/abs/2603.04101"
    assert lines[lines.index(MISSED) + 1] == search


def test_the_preheader_names_the_first_paper_and_how_many_follow(sent: dict[str, Message]) -> None:
    html, text = _part(sent["plain@example.org"], "text/html"), _part(sent["plain@example.org"], "text/plain")
    lines = text.splitlines()
    heading = lines.index("TODAY'S TRENDING PAPERS")
    assert lines[heading + 1].startswith("#1")
    top = lines[heading + 2]
    assert top in (FOUND, MISSED)
    assert re.search(rf'class="tp-preheader"[^>]*>#1 {re.escape(top)}, and 1 more paper\r?\n', html)


def test_what_the_lookup_brought_shows_in_both_parts(sent: dict[str, Message]) -> None:
    html, text = _part(sent["plain@example.org"], "text/html"), _flat(_part(sent["plain@example.org"], "text/plain"))

    assert "TL;DR</span> Hand-drawn floor plans are enough for a small robot to find unseen rooms." in html
    assert '<a href="https://github.com/example-lab/folding-maps"' in html and ">Code · 1.2k ★</a>" in html
    assert '<a href="https://example-lab.github.io/folding-maps/"' in html and ">Project page</a>" in html
    assert '<a href="https://huggingface.co/papers/2603.04101"' in html and ">12 comments</a>" in html

    assert "TL;DR: Hand-drawn floor plans are enough for a small robot to find unseen rooms." in text
    assert "Code · 1.2k ★: https://github.com/example-lab/folding-maps" in text
    assert "Project page: https://example-lab.github.io/folding-maps/" in text
    assert "12 comments: https://huggingface.co/papers/2603.04101" in text


def test_a_keyword_far_past_the_excerpt_shows_its_sentence_to_that_reader_only(sent: dict[str, Message]) -> None:
    html = _part(sent["diffusion@example.org"], "text/html")
    text = _part(sent["diffusion@example.org"], "text/plain")
    section = html[html.index("Matching your keywords") : html.index("s trending papers")]
    assert "Matching your keywords: diffusion</p>" in section
    assert "Matched in the abstract" in section
    assert '“A final study shows the same quiet regime in score-based <mark class="tp-hl"' in section
    assert ">diffusion</mark> samplers as well.”" in section
    assert "“A final study shows the same quiet regime in score-based *diffusion* samplers as well.”" in _flat(text)
    assert text.index("MATCHING YOUR KEYWORDS: diffusion") < text.index("Matched in the abstract")

    for other in ("robots@example.org", "plain@example.org"):
        other_html = _part(sent[other], "text/html")
        other_text = _part(sent[other], "text/plain")
        assert "A final study shows" not in other_html and "A final study shows" not in other_text
    assert "<mark" not in _part(sent["plain@example.org"], "text/html")
    robots = _part(sent["robots@example.org"], "text/html")
    assert "Matching your keywords: robots</p>" in robots
    assert "Matched in the abstract" not in robots  # the title shows its match already
