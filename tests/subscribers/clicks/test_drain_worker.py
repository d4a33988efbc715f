"""Beat and a real worker drain the click stream into PostgreSQL while the redirect keeps answering."""

from __future__ import annotations

import time

import pytest
import redis
from django.test import Client

from digest.models import PaperClicks
from subscribers.models import Click
from tests.subscribers.clicks.conftest import BROWSER, Tracked, send_to
from tests.subscribers.factories import make_subscriber

pytestmark = [pytest.mark.realparts, pytest.mark.django_db(transaction=True)]


def test_beat_drains_the_stream_and_every_click_is_stored_once(
    tracked: Tracked, celery_process, redis_url: str, stream_key: str, settings, postgres
) -> None:
    settings.REDIS_URL = redis_url
    readers = [tracked.reader] + [make_subscriber() for _ in range(29)]
    for reader in readers[1:]:
        send_to(tracked.edition, reader)
    env = {"CLICK_DRAIN_SECONDS": "1", "CLICK_STREAM_KEY": stream_key, "SEND_TICK_SECONDS": "3600"}
    celery_process("worker", "--concurrency=1", env=env)
    celery_process("beat", env=env)

    client = Client()
    for i, reader in enumerate(readers):
        assert client.get(tracked.path(1 + i % 3, reader), headers={"User-Agent": BROWSER}).status_code == 302
        if i % 10 == 0:
            assert client.head(tracked.path(4, reader), headers={"User-Agent": BROWSER}).status_code == 302
        if i == 15:
            time.sleep(1.5)  # let a drain run in between, so the clicks arrive in more than one batch

    deadline = time.monotonic() + 60
    while Click.objects.count() < 33 and time.monotonic() < deadline:
        time.sleep(0.2)

    assert Click.objects.count() == 33
    assert sum(Click.objects.values_list("count", flat=True)) == 33
    assert Click.objects.counted().count() == 30
    assert PaperClicks.objects.get(paper=tracked.papers[0]).readers == 30
    assert not PaperClicks.objects.filter(paper=tracked.papers[1]).exists()  # only HEADs reached it
    assert redis.Redis.from_url(redis_url).xlen(stream_key) <= 1
    time.sleep(2.5)  # more drains find nothing new to apply
    assert sum(Click.objects.values_list("count", flat=True)) == 33
