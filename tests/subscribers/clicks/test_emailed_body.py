"""The emailed body's link numbering: stable across renderings and rebuilds, generic over a card's links, and
filled per recipient without a query."""

from __future__ import annotations

import re

import pytest

from digest.models import EditionEntry
from subscribers.clicks import emailed
from subscribers.clicks.emailed import emailed_body
from subscribers.clicks.tokens import make_click_token
from subscribers.messages import edition_message
from subscribers.models import EditionLink
from tests.factories import make_edition, make_paper
from tests.subscribers.clicks.conftest import DAY
from tests.subscribers.factories import make_subscriber

pytestmark = pytest.mark.django_db


def _table(edition) -> dict[int, tuple[int, str, str]]:
    return {row.number: (row.paper_id, row.kind, row.url) for row in EditionLink.objects.filter(edition=edition)}


def test_every_link_a_card_shows_is_numbered_with_its_kind() -> None:
    paper = make_paper(links={"code": "https://github.com/a/b", "comments": "https://example.org/thread/1"})
    edition = make_edition(date=DAY, papers=[paper])

    emailed_body(edition)

    kinds = sorted(kind for _, kind, _ in _table(edition).values())
    assert kinds == ["code", "other", "page", "pdf", "title"]
    assert (paper.pk, "other", "https://example.org/thread/1") in _table(edition).values()


def test_a_title_not_yet_found_on_arxiv_links_through_the_redirect_to_its_title_search() -> None:
    paper = make_paper(arxiv_id=None, title="Quiet Gradients for Loud Data")
    edition = make_edition(date=DAY, papers=[paper])

    body = emailed_body(edition)

    ((number, (paper_id, kind, url)),) = _table(edition).items()
    assert (paper_id, kind) == (paper.pk, "title")
    assert url.startswith("https://arxiv.org/search/?") and "Quiet+Gradients" in url
    assert f"/r/{body.recipient_mark}/{number}/" in body.html.fill({**body.html_defaults, "keywords": "", "footer": ""})


def test_rendering_again_or_after_a_rebuild_never_renumbers_an_emailed_link() -> None:
    first, second = make_paper(), make_paper()
    edition = make_edition(date=DAY, papers=[first])
    emailed_body(edition)
    before = _table(edition)

    emailed_body(edition)
    assert _table(edition) == before
    # A curator adds a paper after a first rendering (a test send): its links come after the existing ones.
    EditionEntry.objects.create(edition=edition, paper=second, position=2)
    emailed_body(edition)

    after = _table(edition)
    assert {n: row for n, row in after.items() if n in before} == before
    assert min(n for n, (paper_id, _, _) in after.items() if paper_id == second.pk) > max(before)


def test_a_rendering_that_lost_a_race_for_new_numbers_renders_again(monkeypatch) -> None:
    paper = make_paper()
    edition = make_edition(date=DAY, papers=[paper])
    other = make_paper()
    # Another worker wrote number 1 for some other link between this rendering's read and its write.
    EditionLink.objects.create(edition=edition, number=1, paper=other, kind="title", url="https://example.org/x")
    real, reads = emailed.edition_links_stored, []

    def stale_first(*, edition_id: int):
        reads.append(edition_id)
        return {} if len(reads) == 1 else real(edition_id=edition_id)

    monkeypatch.setattr(emailed, "edition_links_stored", stale_first)

    body = emailed_body(edition)

    table = _table(edition)
    assert len(reads) == 2
    assert table[1] == (other.pk, "title", "https://example.org/x")
    assert sorted(kind for paper_id, kind, _ in table.values() if paper_id == paper.pk) == [
        "page", "pdf", "title",
    ]  # fmt: skip
    numbers = {
        int(n)
        for n in re.findall(
            rf"/r/{body.recipient_mark}/(\d+)/", body.html.fill({**body.html_defaults, "keywords": "", "footer": ""})
        )
    }
    assert 1 not in numbers and numbers == {n for n, row in table.items() if row[0] == paper.pk}


def test_filling_a_reader_queries_nothing_and_puts_their_token_in_every_link(django_assert_num_queries) -> None:
    edition = make_edition(date=DAY, papers=[make_paper(), make_paper()])
    body = emailed_body(edition)
    reader = make_subscriber()

    with django_assert_num_queries(0):
        message = edition_message(body, reader)

    html = message.alternatives[0][0]
    token = make_click_token(subscriber_id=reader.pk, edition_id=edition.pk)
    assert body.recipient_mark not in message.body + html
    assert len(re.findall(rf"/r/{re.escape(token)}/\d+/", html)) == 2 * 3  # title, paper page, PDF per paper
    assert len(re.findall(rf"/r/{re.escape(token)}/\d+/", message.body)) == 2 * 3


def test_with_tracking_off_the_body_has_plain_links_and_writes_no_table(settings) -> None:
    settings.TRACK_CLICKS = False
    paper = make_paper()
    edition = make_edition(date=DAY, papers=[paper])

    body = emailed_body(edition)

    assert body.recipient_mark == ""
    assert f"https://arxiv.org/abs/{paper.arxiv_id}" in body.text.fill(
        {**body.text_defaults, "keywords": "", "footer": ""}
    )
    assert not EditionLink.objects.exists()
