"""Readers' clicks reach the next day's ranking, scanners' do not (time frozen)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from digest.models import Edition
from digest.trending import edition_build
from subscribers.clicks.links import click_url
from subscribers.clicks.tokens import make_click_token
from tests.factories import make_appearance, make_paper
from tests.subscribers.clicks.conftest import BROWSER, DAY, record_links, send_to
from tests.subscribers.factories import make_subscriber

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_redis")]


def test_the_next_days_edition_ranks_a_clicked_paper_above_an_equal_one(client: Client) -> None:
    # Two papers listed alike on both days; without clicks the older row wins the tie.
    older, clicked = make_paper(), make_paper()
    for day in (DAY, DAY + timedelta(days=1)):
        for paper in (older, clicked):
            make_appearance(paper=paper, listed_date=day, upvotes=20)
    reader, scanner_victim = make_subscriber(), make_subscriber()
    with time_machine.travel(datetime(2025, 3, 14, 7, 0, tzinfo=UTC), tick=False):
        edition = edition_build(date=DAY)
        assert [e.paper for e in edition.entries.order_by("position")] == [older, clicked]
        Edition.objects.filter(pk=edition.pk).update(status=Edition.Status.SENT)
        table = record_links(edition, [older, clicked])
        send_to(edition, reader, ago=timedelta(0))
        send_to(edition, scanner_victim, ago=timedelta(0))
    by_paper = {link.paper_id: number for number, link in table.items() if link.kind == "arxiv"}

    def follow(subscriber, paper, *, at: datetime, head: bool = False) -> None:
        path = click_url(
            token=make_click_token(subscriber_id=subscriber.pk, edition_id=edition.pk), number=by_paper[paper.pk]
        ).removeprefix("http://testserver")
        with time_machine.travel(at, tick=False):
            call = client.head if head else client.get
            assert call(path, headers={"User-Agent": BROWSER}).status_code == 302

    # The older paper only gets a scanner's visits: a HEAD, and a GET seconds after delivery.
    follow(scanner_victim, older, at=datetime(2025, 3, 14, 7, 0, 2, tzinfo=UTC), head=True)
    follow(scanner_victim, older, at=datetime(2025, 3, 14, 7, 0, 3, tzinfo=UTC))
    follow(reader, clicked, at=datetime(2025, 3, 14, 10, 30, tzinfo=UTC))

    with time_machine.travel(datetime(2025, 3, 15, 6, 0, tzinfo=UTC), tick=False):
        next_day = edition_build(date=DAY + timedelta(days=1))

    entries = list(next_day.entries.order_by("position"))
    assert [e.paper for e in entries] == [clicked, older]
    assert entries[0].score_parts["clicks"] == pytest.approx(1.0)  # log2(1 + one reader)
    assert entries[1].score_parts["clicks"] == 0.0
