from __future__ import annotations

import json
import threading
from datetime import date

import pytest
from django.db import connection

from digest.ingest import IngestStatus, ingest_bytes, reparse_document
from digest.models import Appearance, DigestDocument, Paper
from digest.normalize import title_key

TODAY = date(2026, 6, 1)


def _text_page(day: str, *papers: tuple[str, str]) -> bytes:
    body = "".join(f"{title}\n\n{abstract}\n\n" for title, abstract in papers)
    return f"new\n\nSubscribe\n\n{day}\n\n{body}".encode()


def _json_page(*items: dict, listed: str = "2026-03-03T08:00:00.000Z") -> bytes:
    return json.dumps([{"paper": item, "publishedAt": listed} for item in items]).encode()


ALPHA = ("Alpha: Learning to Count", "We count things. It works.")
BETA = ("Beta Networks for Gamma Rays", "Gamma rays, detected.")


@pytest.mark.django_db
def test_same_bytes_twice_change_nothing() -> None:
    page = _text_page("Mar 2", ALPHA, BETA)
    first = ingest_bytes(page, origin="a.txt", today=TODAY)
    assert first.status == IngestStatus.CREATED
    assert (first.papers_created, first.papers_updated) == (2, 0)
    before = list(Paper.objects.values_list("pk", "appearance_count", "updated_at"))
    second = ingest_bytes(page, origin="copy-of-a.txt", today=TODAY)
    assert second.status == IngestStatus.UNCHANGED
    assert second.document.pk == first.document.pk
    assert list(Paper.objects.values_list("pk", "appearance_count", "updated_at")) == before
    assert DigestDocument.objects.count() == 1 and Appearance.objects.count() == 2


@pytest.mark.django_db
def test_papers_are_deduplicated_across_pages_and_counts_follow() -> None:
    ingest_bytes(_text_page("Mar 2", ALPHA, BETA), origin="d1", today=TODAY)
    shouted = ("ALPHA — learning to count!", "We count things. It works, again.")
    ingest_bytes(_text_page("Mar 3", BETA, shouted), origin="d2", today=TODAY)
    assert Paper.objects.count() == 2
    alpha = Paper.objects.get(title_key=title_key(shouted[0]))
    assert alpha.appearance_count == 2
    assert (alpha.first_seen, alpha.last_seen) == (date(2026, 3, 2), date(2026, 3, 3))
    assert list(alpha.appearances.order_by("listed_date").values_list("position", flat=True)) == [1, 2]


@pytest.mark.django_db
def test_a_paper_seen_without_id_gains_it_later_and_stays_one_paper() -> None:
    ingest_bytes(_text_page("Mar 2", ALPHA), origin="text", today=TODAY)
    paper = Paper.objects.get()
    assert paper.arxiv_id is None
    result = ingest_bytes(
        _json_page(
            {"id": "2603.00001", "title": "Alpha:\n  Learning to Count", "upvotes": 9, "authors": [{"name": "A"}]}
        ),
        origin="api",
        today=TODAY,
    )
    assert (result.papers_created, result.papers_updated) == (0, 1)
    paper.refresh_from_db()
    assert (paper.arxiv_id, paper.upvotes, paper.authors, paper.appearance_count) == ("2603.00001", 9, ["A"], 2)
    # And a later text page without the id finds the paper by its title.
    ingest_bytes(_text_page("Mar 4", ALPHA), origin="text2", today=TODAY)
    assert Paper.objects.count() == 1
    assert Paper.objects.get().appearance_count == 3


@pytest.mark.django_db
def test_curator_fields_and_edited_text_survive_reingest() -> None:
    ingest_bytes(
        _json_page({"id": "2603.00002", "title": "Original", "summary": "First abstract.", "upvotes": 1}),
        origin="a",
        today=TODAY,
    )
    Paper.objects.update(
        pinned=True, hidden=True, boost=2.5, note="keep", title="Curated Title", title_edited=True,
        abstract="Curated abstract.", abstract_edited=True,
    )  # fmt: skip
    ingest_bytes(
        _json_page(
            {"id": "2603.00002", "title": "Changed", "summary": "Second.", "upvotes": 30}, listed="2026-03-04T00:00:00Z"
        ),
        origin="b",
        today=TODAY,
    )
    paper = Paper.objects.get()
    assert (paper.pinned, paper.hidden, paper.boost, paper.note) == (True, True, 2.5, "keep")
    assert (paper.title, paper.abstract) == ("Curated Title", "Curated abstract.")
    assert (paper.upvotes, paper.appearance_count) == (30, 2)


@pytest.mark.django_db
def test_unedited_fields_follow_the_latest_page_but_old_pages_do_not_roll_upvotes_back() -> None:
    newer = _json_page(
        {"id": "2603.00003", "title": "T", "summary": "Full abstract.", "upvotes": 50}, listed="2026-03-05T00:00:00Z"
    )
    older = _json_page({"id": "2603.00003", "title": "T", "summary": "", "upvotes": 5}, listed="2026-03-01T00:00:00Z")
    ingest_bytes(newer, origin="new", today=TODAY)
    ingest_bytes(older, origin="old", today=TODAY)
    paper = Paper.objects.get()
    assert (paper.upvotes, paper.abstract) == (50, "Full abstract.")
    assert (paper.first_seen, paper.last_seen) == (date(2026, 3, 1), date(2026, 3, 5))


@pytest.mark.django_db
def test_a_paper_listed_twice_on_one_page_appears_once() -> None:
    page = _json_page({"title": "Twice Listed"}, {"id": "2603.00004", "title": "Twice  listed!"}, {"title": "Other"})
    result = ingest_bytes(page, origin="dup", today=TODAY)
    assert result.document.paper_count == 2
    assert Paper.objects.count() == 2
    assert Paper.objects.get(title_key=title_key("Twice Listed")).arxiv_id == "2603.00004"


@pytest.mark.django_db
def test_failed_parse_is_stored_with_its_reason_and_raw_bytes() -> None:
    result = ingest_bytes(b'[{"title": "cut', origin="cut.json", today=TODAY)
    assert result.status == IngestStatus.FAILED
    assert "truncated" in result.error
    document = DigestDocument.objects.get()
    assert document.status == DigestDocument.Status.FAILED
    assert document.error == result.error
    assert bytes(document.raw) == b'[{"title": "cut'
    assert Paper.objects.count() == 0


@pytest.mark.django_db
def test_reparse_redoes_appearances_after_a_format_change() -> None:
    # Ingested as text by mistake, the JSON page parses into one garbage "paper"; a re-parse as JSON fixes it.
    page = _json_page({"id": "2603.00005", "title": "Real Title"}, {"id": "2603.00006", "title": "Second"})
    ingest_bytes(_text_page("Mar 1", ("Real Title", "Kept.")), origin="other", today=TODAY)
    wrong = ingest_bytes(page, origin="api", format="text", today=TODAY)
    assert wrong.status == IngestStatus.CREATED and wrong.document.paper_count == 1
    Paper.objects.filter(title_key=title_key("Real Title")).update(pinned=True)
    document = DigestDocument.objects.get(pk=wrong.document.pk)
    document.format = "json"
    document.save()
    result = reparse_document(document)
    assert result.status == IngestStatus.REPARSED
    assert result.document.paper_count == 2
    assert set(Paper.objects.values_list("title", flat=True)) == {"Real Title", "Second"}
    real = Paper.objects.get(title="Real Title")
    assert (real.arxiv_id, real.appearance_count, real.pinned) == ("2603.00005", 2, True)
    assert Appearance.objects.count() == 3


@pytest.mark.django_db
def test_reingesting_a_failed_document_retries_it() -> None:
    page = b"<html><body><p>nothing yet</p></body></html>"
    assert ingest_bytes(page, origin="p", today=TODAY).status == IngestStatus.FAILED
    assert ingest_bytes(page, origin="p", today=TODAY).status == IngestStatus.FAILED
    assert DigestDocument.objects.count() == 1
    retried = ingest_bytes(page, origin="p", format="text", today=TODAY)
    assert retried.status == IngestStatus.REPARSED
    assert DigestDocument.objects.get().status == DigestDocument.Status.PARSED


@pytest.mark.django_db
def test_upsert_queries_do_not_grow_with_papers(django_assert_max_num_queries) -> None:
    small = _json_page(*({"id": f"2603.1{i:04d}", "title": f"Paper {i}"} for i in range(3)))
    large = _json_page(*({"id": f"2603.2{i:04d}", "title": f"Paper {i} b"} for i in range(60)))
    ingest_bytes(small, origin="warm", today=TODAY)
    with django_assert_max_num_queries(14):
        ingest_bytes(large, origin="large", today=TODAY)
    again = _json_page(*({"id": f"2603.2{i:04d}", "title": f"Paper {i} b", "upvotes": i} for i in range(60)))
    with django_assert_max_num_queries(14):
        result = ingest_bytes(again, origin="again", today=TODAY)
    assert result.papers_updated == 60


@pytest.mark.django_db(transaction=True)
def test_concurrent_ingests_of_the_same_bytes_store_one_document(postgres: None) -> None:
    page = _text_page("Mar 2", ALPHA, BETA)
    results = []
    barrier = threading.Barrier(4)

    def run() -> None:
        try:
            barrier.wait()
            results.append(ingest_bytes(page, origin="race", today=TODAY).status)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [IngestStatus.CREATED] + [IngestStatus.UNCHANGED] * 3
    assert (DigestDocument.objects.count(), Paper.objects.count(), Appearance.objects.count()) == (1, 2, 2)


@pytest.mark.django_db(transaction=True)
def test_concurrent_pages_sharing_a_new_paper_make_it_once(postgres: None) -> None:
    pages = [
        _json_page(
            {"id": "2603.09999", "title": "Shared"},
            {"id": f"2603.0{n}000", "title": f"Own {n}"},
            listed=f"2026-03-0{n}T00:00:00Z",
        )
        for n in range(1, 5)
    ]
    barrier = threading.Barrier(len(pages))
    statuses = []

    def run(page: bytes) -> None:
        try:
            barrier.wait()
            statuses.append(ingest_bytes(page, origin="race", today=TODAY).status)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(page,)) for page in pages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [IngestStatus.CREATED] * 4
    shared = Paper.objects.get(arxiv_id="2603.09999")
    assert shared.appearance_count == 4 == shared.appearances.count()
    assert Paper.objects.count() == 5
