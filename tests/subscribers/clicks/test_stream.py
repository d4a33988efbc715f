"""The fast path with Redis: the redirect appends to a stream, the drain applies it once, in batches."""

from __future__ import annotations

import pytest
import redis
from django.test import Client

from digest.models import PaperClicks
from subscribers.clicks.recording import click_record, click_redis, clicks_drain
from subscribers.models import Click, ClickStreamMark
from tests.subscribers.clicks.conftest import BROWSER, Tracked, send_to
from tests.subscribers.factories import make_subscriber
from tests.support.services import free_port

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def stream(redis_url: str, stream_key: str, settings) -> redis.Redis:
    settings.REDIS_URL = redis_url
    client = redis.Redis.from_url(redis_url)
    yield client
    client.delete(stream_key)


def _click(client: Client, tracked: Tracked, number: int, *, head: bool = False, reader=None):
    call = client.head if head else client.get
    return call(tracked.path(number, reader), headers={"User-Agent": BROWSER})


def test_the_redirect_appends_to_the_stream_and_the_drain_applies_it(
    client: Client, tracked: Tracked, stream: redis.Redis, stream_key: str
) -> None:
    assert _click(client, tracked, 1).status_code == 302
    assert _click(client, tracked, 1).status_code == 302
    assert _click(client, tracked, 5, head=True).status_code == 302

    assert stream.xlen(stream_key) == 3
    assert not Click.objects.exists()  # the redirect did not wait on the database

    result = clicks_drain()

    assert (result.entries, result.applied, result.dropped, result.new_readers) == (3, 3, 0, 1)
    title = Click.objects.get(kind="title")
    assert (title.count, title.flagged) == (2, False)
    assert Click.objects.get(kind="arxiv").flag_reason == Click.FlagReason.HEAD
    assert PaperClicks.objects.get().readers == 1
    # Applied entries are trimmed, except the one the mark points at (skipped by every later drain).
    assert stream.xlen(stream_key) == 1
    assert clicks_drain().entries == 0
    assert Click.objects.get(kind="title").count == 2


def test_entries_up_to_the_mark_are_never_applied_again(
    client: Client, tracked: Tracked, stream: redis.Redis, stream_key: str
) -> None:
    # A drain that committed its batch (and the mark) and died before trimming leaves those entries in the
    # stream: the next drain starts after the mark.
    for _ in range(3):
        _click(client, tracked, 1)
    entries = stream.xrange(stream_key)
    ClickStreamMark.objects.create(stream=stream_key, last_id=entries[1][0].decode())

    result = clicks_drain()

    assert (result.entries, result.applied) == (1, 1)
    assert Click.objects.get().count == 1


def test_the_drain_works_in_batches_and_moves_the_mark_each_time(
    client: Client, tracked: Tracked, stream: redis.Redis, stream_key: str
) -> None:
    readers = [make_subscriber() for _ in range(5)]
    for reader in readers:
        send_to(tracked.edition, reader)
        _click(client, tracked, 4, reader=reader)

    result = clicks_drain(batch_size=2)

    assert (result.entries, result.applied, result.new_readers) == (5, 5, 5)
    assert PaperClicks.objects.get(paper=tracked.papers[1]).readers == 5
    mark = ClickStreamMark.objects.get(stream=stream_key)
    assert mark.last_id == stream.xrange(stream_key)[-1][0].decode()


def test_clicks_of_a_reader_erased_before_the_drain_are_dropped(
    client: Client, tracked: Tracked, stream: redis.Redis
) -> None:
    stays = make_subscriber()
    send_to(tracked.edition, stays)
    _click(client, tracked, 1)
    _click(client, tracked, 1, reader=stays)
    tracked.reader.delete()

    result = clicks_drain()

    assert (result.applied, result.dropped) == (1, 1)
    assert list(Click.objects.values_list("subscriber_id", flat=True)) == [stays.pk]


def test_an_entry_that_is_not_a_click_is_skipped_and_the_rest_applied(
    client: Client, tracked: Tracked, stream: redis.Redis, stream_key: str
) -> None:
    stream.xadd(stream_key, {"s": "not a number"})
    _click(client, tracked, 1)

    result = clicks_drain()

    assert (result.entries, result.malformed, result.applied) == (2, 1, 1)
    assert Click.objects.count() == 1


def test_with_redis_unreachable_the_click_goes_to_the_database(
    client: Client, tracked: Tracked, settings, stream_key: str
) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there

    response = _click(client, tracked, 1)

    assert response.status_code == 302
    assert Click.objects.get().count == 1


def test_click_record_says_where_the_click_went(tracked: Tracked, stream: redis.Redis, settings) -> None:
    from django.utils import timezone

    from subscribers.clicks.apply import ClickEvent

    event = ClickEvent(
        subscriber_id=tracked.reader.pk,
        edition_id=tracked.edition.pk,
        paper_id=tracked.papers[0].pk,
        kind="title",
        at=timezone.now(),
        head=False,
        agent="browser",
    )
    assert click_record(event) == "stream"
    settings.REDIS_URL = ""
    assert click_redis() is None
    assert click_record(event) == "database"
