"""Curators' click figures: unique clickers and click rate per paper on the edition page, per edition on the
dashboard; scanners' and bots' clicks never in them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from digest.models import Edition, Paper
from subscribers.models import Click, Delivery, Subscriber
from tests.factories import make_edition, make_paper
from tests.subscribers.factories import make_subscriber

pytestmark = pytest.mark.django_db


def click(reader: Subscriber, edition: Edition, paper: Paper, kind: str = "arxiv", *, flagged: str = "") -> None:
    now = timezone.now()
    Click.objects.create(
        subscriber=reader, edition=edition, paper=paper, kind=kind, first_at=now, last_at=now, count=1,
        counted_at=None if flagged else now, flag_reason=flagged, flagged_count=1 if flagged else 0,
    )  # fmt: skip


@pytest.fixture
def edition_with_clicks() -> tuple[Edition, list[Paper]]:
    papers = [make_paper(title=f"Clicked paper {i}") for i in range(3)]
    edition = make_edition(date=timezone.localdate() - timedelta(days=1), papers=papers, status="sent")
    readers = [make_subscriber() for _ in range(5)]
    for reader, status in zip(readers, ("delivered", "opened", "clicked", "delivered", "bounced"), strict=True):
        Delivery.objects.create(edition=edition, subscriber=reader, status=status)
    # Paper 0: two readers, one of them through two links (one clicker); paper 1: only a scanner's and a HEAD.
    click(readers[0], edition, papers[0], "title")
    click(readers[0], edition, papers[0], "pdf")
    click(readers[1], edition, papers[0])
    click(readers[2], edition, papers[1], flagged="window")
    click(readers[3], edition, papers[1], "pdf", flagged="head")
    return edition, papers


def test_the_edition_page_shows_unique_clickers_and_click_rate_per_paper(root_client: Client, edition_with_clicks):
    edition, _papers = edition_with_clicks

    response = root_client.get(reverse("admin:digest_edition_change", args=[edition.pk]))

    rows = [(p.title, p.clicks.clickers, p.clicks.delivered) for p in response.context["papers"]]
    assert rows == [("Clicked paper 0", 2, 4), ("Clicked paper 1", 0, 4), ("Clicked paper 2", 0, 4)]
    assert response.context["papers"][0].clicks.percent == 50.0
    assert response.context["edition_clicks"].clickers == 2
    page = response.content.decode()
    assert '<td data-clicks="clickers">2</td><td data-clicks="rate">50.0%</td>' in page
    assert "2 readers clicked a paper of this edition (50.0% of 4 delivered)" in page


def test_the_dashboard_shows_click_rate_per_edition_over_time(root_client: Client, edition_with_clicks):
    edition, papers = edition_with_clicks
    older = make_edition(date=edition.date - timedelta(days=1), papers=papers, status="sent")
    reader = make_subscriber()
    Delivery.objects.create(edition=older, subscriber=reader, status="delivered")
    click(reader, older, papers[2])
    make_edition(date=edition.date - timedelta(days=2), papers=papers, status="sent")  # nothing confirmed delivered

    response = root_client.get(reverse("admin-dashboard"))

    chart = response.context["click_chart"]
    # Oldest first: no delivery confirmed, then 1 of 1, then 2 of 4; bars scaled to the highest rate.
    assert [bar.label.split(": ", 1)[1] for bar in chart.bars] == [
        "no delivery confirmed (0 of 0 delivered)",
        "100.0% (1 of 1 delivered)",
        "50.0% (2 of 4 delivered)",
    ]
    assert [bar.height for bar in chart.bars] == [0.0, 63.0, 31.5]
    assert chart.latest.percent == 50.0
    rows = {row.edition.pk: row.clicks for row in response.context["edition_rows"]}
    assert (rows[edition.pk].clickers, rows[edition.pk].delivered) == (2, 4)
    assert f'<td data-clicks="{edition.pk}">50.0% (2)</td>' in response.content.decode()
