"""The archive as a site, not an email: no inbox furniture, a call to subscribe, the site's scheme, link previews."""

from __future__ import annotations

from datetime import date
from html.parser import HTMLParser

import pytest
from django.test import Client

from digest.models import Edition
from digest.rendering import edition_archive_page, edition_snapshot
from tests.factories import make_edition, make_paper

pytestmark = pytest.mark.django_db

DAY = date(2025, 3, 14)
SITE = "https://papers.example.org"


class Head(HTMLParser):
    """The <meta> and <link> tags of a page, and how many <h1> it has."""

    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.links: list[dict[str, str]] = []
        self.h1 = 0
        self.styled: list[str] = []  # tags with a style attribute inside the edition
        self._in_edition = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "meta" and ("name" in values or "property" in values):
            self.meta[values.get("name") or values["property"]] = values.get("content", "")
        elif tag == "link":
            self.links.append(values)
        elif tag == "h1":
            self.h1 += 1
        if tag == "article":
            self._in_edition += 1
        elif self._in_edition and "style" in values:
            self.styled.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self._in_edition -= 1


def parse(html: str) -> Head:
    head = Head()
    head.feed(html)
    return head


@pytest.fixture(autouse=True)
def site(settings) -> None:
    settings.SITE_URL = SITE
    settings.ALLOWED_HOSTS = ["papers.example.org", "localhost", "testserver"]
    settings.NEWSLETTER_NAME = "Trending Papers"


@pytest.fixture
def edition() -> Edition:
    papers = [make_paper(title="Scaling laws for retrieval agents"), make_paper(title="A second paper")]
    return make_edition(date=DAY, papers=papers, status=Edition.Status.SENT, intro="Two good ones today.")


def test_the_edition_page_has_no_inbox_furniture_and_asks_visitors_to_subscribe(client: Client, edition) -> None:
    html = client.get("/editions/2025-03-14/", HTTP_HOST="localhost").content.decode()
    page = parse(html)

    assert "Scaling laws for retrieval agents" in html and "Two good ones today." in html
    assert "View this edition in your browser" not in html
    assert f'href="{SITE}/editions/2025-03-14/"' not in html.split("<main", 1)[1]  # no link to itself
    assert "because you subscribed" not in html
    assert "/unsubscribe/" not in html and "/preferences/" not in html
    # The name once, in the site's header; the page's one heading is the edition's day.
    assert html.count(">Trending Papers<") == 1 and page.h1 == 1
    assert "<h1>Friday 14 March 2025</h1>" in html
    assert '<a class="button" href="/">Subscribe</a>' in html


def test_the_edition_follows_the_site_scheme_not_the_emails(client: Client, edition) -> None:
    html = client.get("/editions/2025-03-14/").content.decode()
    head, body = html.split("<main", 1)
    # One scheme for the page and the edition in it: the site's variables, switched once.
    assert '<meta name="color-scheme" content="light dark">' in head
    assert head.count("@media (prefers-color-scheme: dark)") == 1
    assert "prefers-color-scheme" not in body and "<style" not in body
    # No email styles left on the cards (they would keep a white card in a dark page, or the reverse).
    assert parse(html).styled == []
    assert "<table" not in body and "tp-wrapper" not in body and "mso" not in body


def test_a_snapshot_sent_with_the_email_furniture_is_shown_without_it(edition) -> None:
    edition_snapshot(edition)
    edition.refresh_from_db()
    assert "View this edition in your browser" in edition.rendered_html  # the email as sent keeps it
    shown = edition_archive_page(edition)
    assert "View this edition in your browser" not in shown.content and "Subscribe" not in shown.content
    assert shown.dateline == "Friday 14 March 2025"
    assert shown.summary == "#1 Scaling laws for retrieval agents, and 1 more paper"


def test_a_shared_edition_link_previews_from_site_url_whatever_the_host(client: Client, edition) -> None:
    head = parse(client.get("/editions/2025-03-14/", HTTP_HOST="localhost").content.decode())
    assert head.meta["og:title"] == "Trending Papers: Friday 14 March 2025"
    assert head.meta["og:description"] == "#1 Scaling laws for retrieval agents, and 1 more paper"
    assert head.meta["description"] == head.meta["og:description"]
    assert head.meta["og:url"] == f"{SITE}/editions/2025-03-14/"
    assert head.meta["og:type"] == "article"
    assert {"rel": "canonical", "href": f"{SITE}/editions/2025-03-14/"} in head.links


@pytest.mark.parametrize("path", ["/", "/editions/", "/editions/2025-03-14/"])
def test_every_page_carries_feed_discovery_a_favicon_and_preview_tags(client: Client, edition, path: str) -> None:
    head = parse(client.get(path, HTTP_HOST="localhost").content.decode())
    feeds = [link for link in head.links if link.get("rel") == "alternate"]
    assert [(f["type"], f["href"]) for f in feeds] == [("application/atom+xml", f"{SITE}/feed/")]
    (icon,) = [link for link in head.links if link.get("rel") == "icon"]
    assert icon["href"].startswith("data:image/svg+xml,")
    assert head.meta["description"]
    assert {"og:title", "og:description", "og:url", "og:type", "og:site_name"} <= head.meta.keys()
    assert head.meta["og:url"].startswith(f"{SITE}/")


def test_the_list_links_each_day_and_shows_only_a_curators_own_subject(client: Client) -> None:
    make_edition(date=DAY, papers=[make_paper()], status=Edition.Status.SENT, subject="Robots everywhere")
    make_edition(date=date(2025, 3, 13), papers=[make_paper()], status=Edition.Status.SENT)
    html = client.get("/editions/").content.decode()
    assert '<a href="/editions/2025-03-14/">Friday 14 March 2025</a>' in html
    assert "Robots everywhere · 1 paper" in html
    assert "Trending Papers: Thursday" not in html  # the default subject only repeats the date
    assert '<a class="button" href="/">Subscribe</a>' in html
