"""What keeps admin pages fast over millions of rows: estimated counts, indexed searches, kept figures.

Timings are measured by bench/admin_scale.py; these tests pin the behaviour behind them: the count shown, what a
search finds, and that each search's condition is one the trigram indexes can answer.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from digest.admin import paging
from digest.models import Edition
from subscribers.models import Delivery, Subscriber, TrackingEvent
from tests.factories import make_paper
from tests.subscribers.factories import make_subscriber

pytestmark = pytest.mark.django_db
SUBSCRIBERS = reverse("admin:subscribers_subscriber_changelist")
DELIVERIES = reverse("admin:subscribers_delivery_changelist")


def shown_count(html: str) -> str:
    return re.search(r'<p class="paginator">.*?(\S*\s*\d+) subscribers?', html, re.S).group(1).strip()


def test_past_the_exact_limit_the_count_is_the_planners_estimate_and_says_about(
    root_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paging, "EXACT_UP_TO", 5)
    Subscriber.objects.bulk_create(Subscriber(email=f"many{n}@example.org", status="active") for n in range(40))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Subscriber._meta.db_table}")

    page = root_client.get(SUBSCRIBERS)
    assert page.context["cl"].paginator.estimated
    assert page.context["cl"].result_count >= 6  # the estimate, never below the rows actually counted
    assert "about" in shown_count(page.content.decode())

    found = root_client.get(SUBSCRIBERS, {"q": "many1"})  # many1, many10..many19: 11 rows, past the limit too
    assert found.context["cl"].paginator.estimated
    exact = root_client.get(SUBSCRIBERS, {"q": "many2@"})
    assert not exact.context["cl"].paginator.estimated
    assert exact.context["cl"].result_count == 1
    assert shown_count(exact.content.decode()) == "1"


def test_below_the_limit_counts_are_exact(root_client: Client) -> None:
    Subscriber.objects.bulk_create(Subscriber(email=f"few{n}@example.org", status="active") for n in range(7))
    page = root_client.get(SUBSCRIBERS)
    assert not page.context["cl"].paginator.estimated
    assert page.context["cl"].result_count == Subscriber.objects.count()
    assert "about" not in shown_count(page.content.decode())


SCANS = ("enable_seqscan", "enable_indexscan", "enable_indexonlyscan")


def _plan_with_bitmap_scans_only(sql: str) -> str:
    """The plan when only bitmap scans are allowed, which need an index that answers a condition of the query: on
    tables this small the planner would otherwise read every row, index or not."""
    with connection.cursor() as cursor:
        for setting in SCANS:
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
        for setting in SCANS:
            cursor.execute(f"SET LOCAL {setting} = on")
    return plan


def _list_query(client: Client, url: str, params: dict[str, str], table: str) -> str:
    """The SQL of the first query of the list that searches ``table`` for a substring."""
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params).status_code == 200
    return next(q["sql"] for q in captured if f'FROM "{table}"' in q["sql"] and "LIKE" in q["sql"])


@pytest.mark.parametrize(
    ("url_name", "params", "table", "indexes"),
    [
        ("admin:subscribers_subscriber_changelist", {"q": "lovelace"}, "subscribers_subscriber", ["email_trgm"]),
        (
            "admin:subscribers_subscriber_changelist",
            {"keyword": "protein"},
            "subscribers_subscriber",
            ["keywords_trgm"],
        ),
        ("admin:subscribers_delivery_changelist", {"q": "lovelace"}, "subscribers_delivery", ["email_trgm"]),
        (
            "admin:subscribers_trackingevent_changelist",
            {"q": "lovelace"},
            "subscribers_trackingevent",
            ["recipient_trgm", "trackingevent_message_id", "event_id"],
        ),
        (
            "admin:digest_paper_changelist",
            {"q": "diffusion"},
            "digest_paper",
            ["paper_search_text_trgm"],
        ),
    ],
)
def test_substring_searches_can_be_answered_by_their_indexes(
    root_client: Client, url_name: str, params: dict[str, str], table: str, indexes: list[str]
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("trigram indexes exist on PostgreSQL only; SQLite scans its small tables")
    make_subscriber(email="ada.lovelace@example.org", keywords=["protein folding"])
    sql = _list_query(root_client, reverse(url_name), params, table)
    plan = _plan_with_bitmap_scans_only(sql)
    for index in indexes:
        assert index in plan, plan


def test_a_delivery_is_found_by_its_whole_message_id_or_by_part_of_the_address(root_client: Client) -> None:
    edition = Edition.objects.create(date=timezone.localdate(), status=Edition.Status.SENT)
    ada, alan = make_subscriber(email="ada@example.org"), make_subscriber(email="alan@example.org")
    mine = Delivery.objects.create(edition=edition, subscriber=ada, status="sent", esp_message_id="0100-ada-1")
    other = Delivery.objects.create(edition=edition, subscriber=alan, status="sent", esp_message_id="0100-alan-2")

    def found(term: str) -> set[int]:
        return {d.pk for d in root_client.get(DELIVERIES, {"q": term}).context["cl"].result_list}

    assert found("0100-alan-2") == {other.pk}
    assert found("ada@") == {mine.pk}
    assert found("example.org") == {mine.pk, other.pk}
    assert found("0100-") == set()  # a part of a message id is not a search for it, and no address has it
    assert found("nobody") == set()


def test_deliveries_list_newest_edition_first_and_headers_do_not_resort(root_client: Client) -> None:
    older = Edition.objects.create(date=timezone.localdate() - timedelta(days=1), status=Edition.Status.SENT)
    newer = Edition.objects.create(date=timezone.localdate(), status=Edition.Status.SENT)
    readers = [make_subscriber() for _ in range(3)]
    Delivery.objects.bulk_create(Delivery(edition=e, subscriber=s) for e in (older, newer) for s in readers)
    page = root_client.get(DELIVERIES)
    rows = [(d.edition_id, d.subscriber_id) for d in page.context["cl"].result_list]
    assert rows == sorted(rows, reverse=True)
    assert rows[0][0] == newer.pk
    assert 'class="sortable' not in page.content.decode()


def test_tracking_events_are_found_by_address_part_or_whole_ids_and_filtered_by_date(root_client: Client) -> None:
    TrackingEvent.objects.create(event_id="ev-1", event_type="opened", esp_message_id="m-1", recipient="ada@x.org")
    TrackingEvent.objects.create(event_id="ev-2", event_type="opened", esp_message_id="m-2", recipient="alan@x.org")
    url = reverse("admin:subscribers_trackingevent_changelist")

    def found(term: str) -> set[str]:
        return {e.event_id for e in root_client.get(url, {"q": term}).context["cl"].result_list}

    assert found("ada@") == {"ev-1"}
    assert found("m-2") == {"ev-2"}
    assert found("ev-1") == {"ev-1"}
    assert found("m-") == set()
    page = root_client.get(url)
    assert "By received at" in page.content.decode()
    assert page.context["cl"].date_hierarchy is None


def test_subscribers_sort_by_address_case_insensitively(root_client: Client) -> None:
    for email in ("bob@example.org", "Alice@example.org", "carol@example.org"):
        make_subscriber(email=email)
    page = root_client.get(SUBSCRIBERS, {"o": "1"})
    emails = [s.email for s in page.context["cl"].result_list]
    assert emails == sorted(emails, key=str.lower)


def test_edition_list_counts_ambiguous_deliveries_as_problems_not_as_sent(root_client: Client) -> None:
    edition = Edition.objects.create(date=timezone.localdate(), status=Edition.Status.SENDING)
    for status in ["sent", "delivered", "ambiguous", "failed", "queued"]:
        Delivery.objects.create(edition=edition, subscriber=make_subscriber(), status=status)
    changelist = root_client.get(reverse("admin:digest_edition_changelist")).content.decode()
    assert '<td class="field-sent">2</td>' in changelist
    assert '<td class="field-problems">2</td>' in changelist


def test_paper_search_matches_each_word_in_the_title_abstract_or_arxiv_id(root_client: Client) -> None:
    wanted = make_paper(title="Plain title", abstract="We fold proteins with a kernel.", arxiv_id="2601.00042")
    make_paper(title="Another kernel", abstract="Nothing to see.", arxiv_id=None)

    def found(term: str) -> set[int]:
        page = root_client.get(reverse("admin:digest_paper_changelist"), {"q": term})
        return {p.pk for p in page.context["cl"].result_list}

    assert found("KERNEL proteins") == {wanted.pk}  # one word in each field of the same paper
    assert found("plain 00042") == {wanted.pk}
    assert len(found("kernel")) == 2
    assert found("title another") != found("title plain")
    assert found("titleWe") == set()  # no word spans two fields


def test_the_problems_index_covers_exactly_the_problem_statuses_and_serves_the_edition_page() -> None:
    from subscribers.reports import delivery_problems

    index = next(i for i in Delivery._meta.indexes if i.name == "delivery_problems")
    assert set(dict(index.condition.children)["status__in"]) == set(Delivery.PROBLEM)
    if connection.vendor != "postgresql":
        return
    edition = Edition.objects.create(date=timezone.localdate(), status=Edition.Status.SENT)
    sql, params = delivery_problems(edition_id=edition.pk).query.sql_with_params()
    with connection.cursor() as cursor:
        # Without a sort and a full scan, only that index gives an edition's problems newest first.
        for setting in ("enable_sort", "enable_seqscan", "enable_bitmapscan"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "delivery_problems" in plan, plan
