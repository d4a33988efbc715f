"""What a reader is told, what they can take away, and what goes when they leave."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from digest.models import PaperClicks
from subscribers.links import preferences_url
from subscribers.models import Click
from tests.subscribers.clicks.conftest import BROWSER, Tracked

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_redis")]


def test_the_landing_page_says_clicks_are_recorded(client: Client, settings) -> None:
    page = client.get("/").content.decode()
    assert "which paper links you open" in page

    settings.TRACK_CLICKS = False
    page = client.get("/").content.decode()
    assert "which paper links you open" not in page
    assert "Links in the emails go straight to the papers" in page


def test_the_data_export_lists_the_readers_clicks(client: Client, tracked: Tracked) -> None:
    client.get(tracked.path(2), headers={"User-Agent": BROWSER})
    client.head(tracked.path(6), headers={"User-Agent": BROWSER})
    path = preferences_url(tracked.reader).removeprefix("http://testserver")

    data = json.loads(client.get(path + "export/").content)

    assert [(c["arxiv_id"], c["link"], c["counted"], c["flagged_as"]) for c in data["clicks"]] == [
        (tracked.papers[0].arxiv_id, "arxiv", True, ""),
        (tracked.papers[1].arxiv_id, "pdf", False, "head"),
    ]
    assert data["clicks"][0]["edition"] == tracked.edition.date.isoformat()
    assert data["clicks"][0]["requests"] == 1


def test_deleting_a_reader_removes_their_clicks_and_keeps_the_anonymous_counts(
    client: Client, tracked: Tracked
) -> None:
    client.get(tracked.path(1), headers={"User-Agent": BROWSER})
    path = preferences_url(tracked.reader).removeprefix("http://testserver")

    response = client.post(path + "delete/")

    assert response.status_code == 200
    assert not Click.objects.exists()
    # A count per paper and day names nobody; it keeps yesterday's ranking what it was.
    assert PaperClicks.objects.get(paper=tracked.papers[0]).readers == 1
