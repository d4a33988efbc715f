"""An edition as a sender leaves it: papers, a reader whose delivery went out an hour ago, and its link table."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from django.utils import timezone

from digest.models import Edition, Paper
from subscribers.clicks.links import TrackedLink, click_url, edition_links_record, forget_link_tables
from subscribers.clicks.tokens import make_click_token
from subscribers.models import Delivery, LinkKind, Subscriber
from tests.factories import make_edition, make_paper
from tests.subscribers.factories import make_subscriber

DAY = date(2025, 3, 14)
BROWSER = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"
)


@pytest.fixture(autouse=True)
def _fresh_link_tables() -> Iterator[None]:
    # Edition ids can repeat between tests (SQLite reuses them after a rollback): no table survives a test.
    forget_link_tables()
    yield
    forget_link_tables()


@pytest.fixture
def stream_key(settings) -> str:
    """A Redis stream of this test's own, so runs sharing a Redis database never drain each other's clicks."""
    settings.CLICK_STREAM_KEY = f"test-clicks:{uuid.uuid4().hex}"
    return settings.CLICK_STREAM_KEY


@pytest.fixture
def no_redis(settings) -> None:
    """The embedded default: no Redis, every click written to the database at once."""
    settings.REDIS_URL = ""


@dataclass
class Tracked:
    edition: Edition
    papers: list[Paper]
    reader: Subscriber
    delivery: Delivery
    links: dict[int, TrackedLink]

    def token(self, reader: Subscriber | None = None) -> str:
        return make_click_token(subscriber_id=(reader or self.reader).pk, edition_id=self.edition.pk)

    def url(self, number: int, reader: Subscriber | None = None) -> str:
        return click_url(token=self.token(reader), number=number)

    def path(self, number: int, reader: Subscriber | None = None) -> str:
        return self.url(number, reader).removeprefix("http://testserver")


def send_to(edition: Edition, reader: Subscriber, *, ago: timedelta = timedelta(hours=1)) -> Delivery:
    return Delivery.objects.create(
        edition=edition, subscriber=reader, status=Delivery.Status.SENT, sent_at=timezone.now() - ago
    )


def record_links(edition: Edition, papers: list[Paper]) -> dict[int, TrackedLink]:
    """Three links per paper, numbered as an edition numbers them: title, arXiv, PDF."""
    links = []
    for i, paper in enumerate(papers):
        base = f"https://arxiv.org/abs/{paper.arxiv_id}"
        links += [
            TrackedLink(number=3 * i + 1, paper_id=paper.pk, kind=LinkKind.TITLE, url=base),
            TrackedLink(number=3 * i + 2, paper_id=paper.pk, kind=LinkKind.ARXIV, url=base),
            TrackedLink(
                number=3 * i + 3, paper_id=paper.pk, kind=LinkKind.PDF, url=f"https://arxiv.org/pdf/{paper.arxiv_id}"
            ),
        ]
    return edition_links_record(edition_id=edition.pk, links=links)


@pytest.fixture
def tracked(db: None) -> Tracked:
    papers = [make_paper(), make_paper()]
    edition = make_edition(date=DAY, papers=papers, status=Edition.Status.SENT)
    reader = make_subscriber()
    delivery = send_to(edition, reader)
    return Tracked(
        edition=edition, papers=papers, reader=reader, delivery=delivery, links=record_links(edition, papers)
    )
