"""Admin pages cost the same number of queries with 10 rows as with 1,000: no per-row query anywhere."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from digest.models import Appearance, DigestDocument, Edition, EditionEntry, Paper, Source
from subscribers.models import Click, Delivery, Subscriber, Suppression, TrackingEvent

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


def count_queries(client: Client, url: str, params: dict | None = None) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params or {})
    assert response.status_code == 200, url
    return len(queries)


_made = {"n": 0}


def _n() -> int:
    _made["n"] += 1
    return _made["n"]


def add_papers(count: int) -> list[Paper]:
    return Paper.objects.bulk_create(
        Paper(
            arxiv_id=f"2601.{(n := _n()):05d}",
            title=f"Paper {n}",
            title_key=f"paper {n}",
            abstract="Abstract.",
            last_seen=TODAY,
            appearance_count=2,
            pinned=n % 7 == 0,
            boost=1.0 if n % 5 == 0 else 0.0,
        )
        for _ in range(count)
    )


def add_subscribers(count: int) -> list[Subscriber]:
    return Subscriber.objects.bulk_create(
        Subscriber(email=f"reader{(n := _n())}@example.org", status="active", keywords=["agents"] if n % 2 else [])
        for _ in range(count)
    )


def add_documents(count: int) -> None:
    source = Source.objects.get_or_create(name="hf", defaults={"url": "https://example.org/papers"})[0]
    DigestDocument.objects.bulk_create(
        DigestDocument(
            source=source,
            origin=f"doc {(n := _n())}",
            raw=b"x" * 100,
            sha256=f"{n:064d}",
            status="failed" if n % 3 == 0 else "parsed",
            error="no papers found" if n % 3 == 0 else "",
        )
        for _ in range(count)
    )


def add_editions(count: int) -> None:
    papers = add_papers(3)
    editions = Edition.objects.bulk_create(
        Edition(date=TODAY - timedelta(days=_n()), status="sent", subject="s") for _ in range(count)
    )
    EditionEntry.objects.bulk_create(
        EditionEntry(edition=e, paper=p, position=i) for e in editions for i, p in enumerate(papers, start=1)
    )
    readers = add_subscribers(2)
    Delivery.objects.bulk_create(
        Delivery(edition=e, subscriber=s, status=status)
        for e in editions
        for s, status in zip(readers, ("sent", "failed"), strict=True)
    )


def add_deliveries(count: int) -> None:
    edition = Edition.objects.get_or_create(date=TODAY, defaults={"status": "sent"})[0]
    Delivery.objects.bulk_create(
        Delivery(edition=edition, subscriber=s, status="failed", last_error="550") for s in add_subscribers(count)
    )


def add_suppressions(count: int) -> None:
    Suppression.objects.bulk_create(Suppression(email_hash=f"{_n():064x}", reason="bounced") for _ in range(count))


def add_events(count: int) -> None:
    TrackingEvent.objects.bulk_create(
        TrackingEvent(event_id=f"e{(n := _n())}", event_type="opened", recipient=f"r{n}@example.org")
        for _ in range(count)
    )


CHANGELISTS: list[tuple[str, Callable[[int], object], dict]] = [
    ("admin:digest_paper_changelist", add_papers, {}),
    ("admin:digest_paper_changelist", add_papers, {"q": "Paper", "pinned__exact": "0", "seen_within": "7"}),
    ("admin:digest_digestdocument_changelist", add_documents, {}),
    (
        "admin:digest_source_changelist",
        lambda n: Source.objects.bulk_create(Source(name=f"s{_n()}", url="https://example.org") for _ in range(n)),
        {},
    ),
    ("admin:digest_edition_changelist", add_editions, {}),
    ("admin:subscribers_subscriber_changelist", add_subscribers, {}),
    ("admin:subscribers_subscriber_changelist", add_subscribers, {"keyword": "agents", "status__exact": "active"}),
    ("admin:subscribers_subscriber_changelist", add_subscribers, {"q": "reader", "o": "1"}),
    ("admin:subscribers_delivery_changelist", add_deliveries, {}),
    ("admin:subscribers_delivery_changelist", add_deliveries, {"q": "reader", "status__exact": "failed"}),
    ("admin:subscribers_suppression_changelist", add_suppressions, {}),
    ("admin:subscribers_trackingevent_changelist", add_events, {}),
    ("admin:subscribers_trackingevent_changelist", add_events, {"q": "example.org", "event_type": "opened"}),
]


@pytest.mark.parametrize(("name", "add", "params"), CHANGELISTS, ids=[f"{c[0]}{c[2] or ''}" for c in CHANGELISTS])
def test_changelist_queries_do_not_grow_with_rows(root_client: Client, name: str, add, params: dict) -> None:
    url = reverse(name)
    add(10)
    with_10 = count_queries(root_client, url, params)
    add(990)
    with_1000 = count_queries(root_client, url, params)
    assert with_10 == with_1000, f"{name}: {with_10} queries with 10 rows, {with_1000} with 1,000"


def test_edition_page_queries_do_not_grow_with_entries_or_failures(root_client: Client) -> None:
    def edition_with(count: int) -> Edition:
        edition = Edition.objects.create(date=TODAY + timedelta(days=_n()))
        EditionEntry.objects.bulk_create(
            EditionEntry(edition=edition, paper=p, position=i, score=1.0, score_parts={"upvotes": 1.0})
            for i, p in enumerate(add_papers(count), start=1)
        )
        Delivery.objects.bulk_create(
            Delivery(edition=edition, subscriber=s, status="failed", last_error="550") for s in add_subscribers(count)
        )
        return edition

    small, large = edition_with(10), edition_with(1000)
    # The first change page of a process looks up content types once (then cached): warm that up first.
    count_queries(root_client, reverse("admin:digest_edition_change", args=[small.pk]))
    with_10 = count_queries(root_client, reverse("admin:digest_edition_change", args=[small.pk]))
    with_1000 = count_queries(root_client, reverse("admin:digest_edition_change", args=[large.pk]))
    assert with_10 == with_1000


def test_paper_page_queries_do_not_grow_with_appearances(root_client: Client) -> None:
    def paper_with(count: int) -> Paper:
        paper = add_papers(1)[0]
        add_documents(count)
        documents = DigestDocument.objects.order_by("-pk")[:count]
        Appearance.objects.bulk_create(
            Appearance(paper=paper, document=d, listed_date=TODAY, position=1) for d in documents
        )
        return paper

    small, large = paper_with(10), paper_with(1000)
    count_queries(root_client, reverse("admin:digest_paper_change", args=[small.pk]))  # content types, cached
    with_10 = count_queries(root_client, reverse("admin:digest_paper_change", args=[small.pk]))
    with_1000 = count_queries(root_client, reverse("admin:digest_paper_change", args=[large.pk]))
    assert with_10 == with_1000


def test_dashboard_queries_do_not_grow_with_rows(root_client: Client) -> None:
    add_editions(3)
    add_subscribers(10)
    with_10 = count_queries(root_client, reverse("admin-dashboard"))
    add_editions(20)
    add_subscribers(990)
    assert count_queries(root_client, reverse("admin-dashboard")) == with_10


def add_clicks(edition: Edition, papers: list[Paper], readers: list[Subscriber]) -> None:
    """A counted click by each reader on one paper each, and a scanner's flagged click beside each."""
    now = timezone.now()
    Click.objects.bulk_create(
        Click(
            subscriber=reader, edition=edition, paper=papers[i % len(papers)], kind=kind, first_at=now, last_at=now,
            count=1, counted_at=now if kind == "arxiv" else None, flag_reason="" if kind == "arxiv" else "window",
        )
        for i, reader in enumerate(readers)
        for kind in ("arxiv", "pdf")
    )  # fmt: skip


def test_edition_page_click_figures_do_not_grow_with_papers_or_clicks(root_client: Client) -> None:
    def edition_with(count: int) -> Edition:
        edition = Edition.objects.create(date=TODAY + timedelta(days=_n()), status="sent")
        papers = add_papers(count)
        EditionEntry.objects.bulk_create(
            EditionEntry(edition=edition, paper=p, position=i) for i, p in enumerate(papers, start=1)
        )
        readers = add_subscribers(count)
        Delivery.objects.bulk_create(Delivery(edition=edition, subscriber=s, status="delivered") for s in readers)
        add_clicks(edition, papers, readers)
        return edition

    small, large = edition_with(10), edition_with(1000)
    count_queries(root_client, reverse("admin:digest_edition_change", args=[small.pk]))  # content types, cached
    with_10 = count_queries(root_client, reverse("admin:digest_edition_change", args=[small.pk]))
    with_1000 = count_queries(root_client, reverse("admin:digest_edition_change", args=[large.pk]))
    assert with_10 == with_1000


def test_dashboard_click_rates_do_not_grow_with_editions_or_clicks(root_client: Client) -> None:
    def sent_editions(count: int) -> None:
        papers = add_papers(2)
        readers = add_subscribers(2)
        for edition in Edition.objects.bulk_create(
            Edition(date=TODAY - timedelta(days=_n()), status="sent") for _ in range(count)
        ):
            Delivery.objects.bulk_create(Delivery(edition=edition, subscriber=s, status="delivered") for s in readers)
            add_clicks(edition, papers, readers)

    sent_editions(10)
    with_10 = count_queries(root_client, reverse("admin-dashboard"))
    sent_editions(990)
    assert count_queries(root_client, reverse("admin-dashboard")) == with_10
