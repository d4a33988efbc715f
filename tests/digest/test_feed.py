"""The Atom feed validates: an author, and ids and links from SITE_URL whatever Host the request came with."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from urllib.parse import urlsplit

import feedparser
import pytest
from django.test import Client

from digest.models import Edition
from tests.factories import make_edition, make_paper

pytestmark = pytest.mark.django_db

DAY = date(2025, 3, 14)
A = "{http://www.w3.org/2005/Atom}"
SITE = "https://papers.example.org"


@pytest.fixture(autouse=True)
def site(settings) -> None:
    settings.SITE_URL = SITE
    settings.ALLOWED_HOSTS = ["papers.example.org", "localhost", "10.0.0.5"]
    settings.NEWSLETTER_NAME = "Trending Papers"


def publish(days: int = 2) -> list[Edition]:
    return [
        make_edition(date=DAY - timedelta(days=n), papers=[make_paper()], status=Edition.Status.SENT)
        for n in range(days)
    ]


def feed_bytes(client: Client, host: str) -> bytes:
    response = client.get("/feed/", HTTP_HOST=host)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    return response.content


def test_the_feed_has_an_author() -> None:
    publish()
    root = ET.fromstring(feed_bytes(Client(), "papers.example.org"))  # noqa: S314 (our own feed)

    (author,) = root.findall(f"{A}author")
    assert author.findtext(f"{A}name") == "Trending Papers"
    assert author.findtext(f"{A}uri") == f"{SITE}/"


def test_the_same_feed_whatever_the_host_header() -> None:
    publish()
    client = Client()

    internal = feed_bytes(client, "localhost:8765")
    public = feed_bytes(client, "papers.example.org")
    by_address = feed_bytes(client, "10.0.0.5")

    assert internal == public == by_address
    root = ET.fromstring(public)  # noqa: S314
    assert root.findtext(f"{A}id") == f"{SITE}/feed/"
    links = {link.get("rel"): link.get("href") for link in root.findall(f"{A}link")}
    assert links == {"alternate": f"{SITE}/editions/", "self": f"{SITE}/feed/"}
    assert [e.findtext(f"{A}id") for e in root.findall(f"{A}entry")] == [
        f"{SITE}/editions/2025-03-14/",
        f"{SITE}/editions/2025-03-13/",
    ]
    assert b"localhost" not in internal and b"10.0.0.5" not in by_address


@pytest.mark.parametrize("editions", [0, 3])
def test_the_feed_is_well_formed_atom_with_every_required_element(editions: int) -> None:
    publish(editions)
    data = feed_bytes(Client(), "papers.example.org")

    parsed = feedparser.parse(io.BytesIO(data))
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert len(parsed.entries) == editions

    # RFC 4287 4.1.1: a feed has exactly one id, title and updated, and an author (its entries have none).
    root = ET.fromstring(data)  # noqa: S314
    for name in ("id", "title", "updated"):
        assert len(root.findall(f"{A}{name}")) == 1, name
    assert root.find(f"{A}author/{A}name").text
    assert urlsplit(root.findtext(f"{A}id")).scheme == "https"  # an absolute IRI
    # 4.1.2: each entry one id, title and updated; with no content element, an alternate link.
    ids = []
    for entry in root.findall(f"{A}entry"):
        for name in ("id", "title", "updated"):
            assert len(entry.findall(f"{A}{name}")) == 1, name
        assert entry.find(f"{A}content") is None
        alternates = [link for link in entry.findall(f"{A}link") if link.get("rel", "alternate") == "alternate"]
        assert len(alternates) == 1 and alternates[0].get("href").startswith(f"{SITE}/editions/")
        ids.append(entry.findtext(f"{A}id"))
    assert len(set(ids)) == len(ids)
