from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest
from django.test import Client

from digest.models import Edition, Frequency
from digest.publishing import sample_edition_publish
from digest.rendering import edition_snapshot
from tests.factories import make_edition, make_paper, make_seen_paper

pytestmark = pytest.mark.django_db

DAY = date(2025, 3, 14)
ATOM = "{http://www.w3.org/2005/Atom}"


def published(day: date = DAY, papers: int = 2, **fields) -> Edition:
    fields.setdefault("status", Edition.Status.SENT)
    return make_edition(date=day, papers=[make_paper() for _ in range(papers)], **fields)


def test_list_shows_public_editions_newest_first(client: Client) -> None:
    older = published(DAY - timedelta(days=1), subject="Older edition")
    newer = published(DAY, subject="Newer edition", status=Edition.Status.APPROVED)
    published(DAY - timedelta(days=2), subject="Draft edition", status=Edition.Status.DRAFT)
    published(DAY - timedelta(days=3), subject="Held edition", status=Edition.Status.HELD)
    weekly = published(DAY, subject="Weekly edition", frequency=Frequency.WEEKLY)

    response = client.get("/editions/")

    assert response.status_code == 200
    page = response.content.decode()
    assert page.index(newer.subject) < page.index(older.subject)
    assert "Draft edition" not in page and "Held edition" not in page
    assert 'href="/editions/2025-03-14/"' in page
    assert 'href="/editions/weekly/2025-03-14/"' in page and weekly.subject in page
    assert "2 papers" in page


def test_edition_page_shows_the_email_content_without_personal_links(client: Client) -> None:
    paper = make_paper(title="Attention <is> all you need", authors=["A. Vaswani"])
    make_edition(date=DAY, papers=[paper], status=Edition.Status.SENT, intro="Hello <script>x</script>")

    response = client.get("/editions/2025-03-14/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "Attention &lt;is&gt; all you need" in page
    assert "A. Vaswani" in page
    assert "Hello &lt;script&gt;x&lt;/script&gt;" in page
    assert "<script>x" not in page
    assert "/unsubscribe/" not in page and "/preferences/" not in page


def test_edition_page_prefers_the_sent_snapshot(client: Client) -> None:
    paper = make_paper(title="As it was sent")
    edition = make_edition(date=DAY, papers=[paper], status=Edition.Status.SENDING)
    edition_snapshot(edition)
    paper.title = "Edited after sending"
    paper.save()

    page = client.get("/editions/2025-03-14/").content.decode()

    assert "As it was sent" in page and "Edited after sending" not in page


@pytest.mark.parametrize("path", ["/editions/2025-03-15/", "/editions/not-a-date/", "/editions/weekly/2025-03-14/"])
def test_missing_or_unpublished_editions_are_404(client: Client, path: str) -> None:
    published(DAY)
    published(DAY + timedelta(days=1), status=Edition.Status.DRAFT)
    assert client.get(path).status_code == 404


def test_weekly_edition_page(client: Client) -> None:
    published(DAY, frequency=Frequency.WEEKLY, subject="The week")
    response = client.get("/editions/weekly/2025-03-14/")
    assert response.status_code == 200
    assert "The week" in response.content.decode()


def test_atom_feed_lists_public_editions(client: Client) -> None:
    published(DAY, subject="Friday <edition>")
    published(DAY - timedelta(days=1), subject="Thursday")
    published(DAY - timedelta(days=2), subject="Unpublished", status=Edition.Status.DRAFT)

    response = client.get("/feed/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)  # noqa: S314 (our own feed, not untrusted input)
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == ["Friday <edition>", "Thursday"]
    link = entries[0].find(f"{ATOM}link").get("href")
    assert link == "http://testserver/editions/2025-03-14/"
    assert "<li>" in entries[0].findtext(f"{ATOM}summary")


def test_archive_query_counts_do_not_grow_with_editions_or_papers(
    client: Client, django_assert_max_num_queries
) -> None:
    for offset in range(3):
        published(DAY - timedelta(days=offset), papers=2)

    def counts() -> tuple[int, int, int]:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        result = []
        for path in ("/editions/", "/editions/2025-03-14/", "/feed/"):
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(path).status_code == 200
            result.append(len(ctx.captured_queries))
        return tuple(result)

    few = counts()
    for offset in range(3, 12):
        published(DAY - timedelta(days=offset), papers=8)
    Edition.objects.filter(date=DAY).delete()
    published(DAY, papers=15)

    assert counts() == few
    assert max(few) <= 4


def test_sample_edition_is_published_only_on_a_fresh_install() -> None:
    make_seen_paper(listed_date=DAY, upvotes=3)

    edition = sample_edition_publish(day=DAY)

    assert edition is not None and edition.status == Edition.Status.APPROVED
    assert edition.entries.count() == 1
    assert sample_edition_publish(day=DAY + timedelta(days=1)) is None
    assert Edition.objects.count() == 1
