"""Through a real send (SES on moto, the raw .eml read back): the emailed paper links go through the redirect.

The clicks here take the production path: the redirect writes to a Redis stream and the drain moves it into the
database.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from email.message import Message

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from digest.models import Edition, Paper, PaperClicks
from subscribers.clicks.recording import clicks_drain
from subscribers.delivery.body import clear_body_cache
from subscribers.delivery.operator import edition_send_now
from subscribers.models import Click, EditionLink, Subscriber
from tests.factories import make_edition, make_paper
from tests.subscribers.clicks.conftest import BROWSER
from tests.subscribers.factories import make_subscriber

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stream_key")]
TODAY = date(2025, 3, 14)
TRACKED = re.compile(r"http://testserver(/r/[^/\s\"]+/\d+/)")


def _send(edition: Edition) -> None:
    Edition.objects.filter(pk=edition.pk).update(status=Edition.Status.APPROVED)
    edition.refresh_from_db()
    clear_body_cache()
    now = datetime(edition.date.year, edition.date.month, edition.date.day, 9, tzinfo=UTC)
    result = edition_send_now(edition=edition, now=now, sleep=lambda _s: None)
    assert result.sent and not result.failed and not result.retry


def _parts(ses, address: str) -> tuple[str, str]:
    (mail,) = [m for m in ses.messages() if m["To"] == address]

    def part(kind: str, message: Message = mail) -> str:
        found = next(p for p in message.walk() if p.get_content_type() == kind)
        return found.get_payload(decode=True).decode()

    return part("text/plain"), part("text/html")


def _line(text: str, label: str, paper: Paper) -> str:
    """The tracked URL on the ``label:`` line of ``paper``'s card in the plain-text part ("": the title's line)."""
    card = text.split(paper.title, 1)[1]
    prefix = f"{re.escape(label)}: " if label else ""
    return re.search(rf"^{prefix}http://testserver(\S+)$", card, re.MULTILINE).group(1)


@pytest.fixture
def papers() -> list[Paper]:
    return [make_paper(links={"code": "https://github.com/example/one"}), make_paper()]


@pytest.fixture
def sent(ses, papers: list[Paper]) -> tuple[Subscriber, Subscriber, Edition]:
    reader, other = make_subscriber(email="reader@example.org"), make_subscriber(email="other@example.org")
    edition = make_edition(date=TODAY, papers=papers)
    _send(edition)
    return reader, other, edition


def test_every_paper_link_of_the_email_points_at_the_redirect_with_the_readers_own_token(ses, sent, papers) -> None:
    reader, other, edition = sent
    text, html = _parts(ses, reader.email)
    other_text, _ = _parts(ses, other.email)

    # No paper's target is linked directly anywhere in the email, in either part.
    for paper in papers:
        assert f"arxiv.org/abs/{paper.arxiv_id}" not in text + html
        assert f"huggingface.co/papers/{paper.arxiv_id}" not in text + html
    assert "github.com/example/one" not in text + html
    hrefs = set(re.findall(r'href="([^"]+)"', html))
    assert not [h for h in hrefs if "testserver" not in h and not h.startswith("mailto:")], hrefs
    # Title (the arXiv page), paper page, PDF of both, and the first one's code link: one table row each.
    table = {row.number: row for row in EditionLink.objects.filter(edition=edition)}
    assert sorted((row.paper_id, row.kind) for row in table.values()) == sorted(
        [(p.pk, kind) for p in papers for kind in ("title", "page", "pdf")] + [(papers[0].pk, "code")]
    )
    in_text = {int(path.rstrip("/").rsplit("/", 1)[1]) for path in TRACKED.findall(text)}
    in_html = {int(path.rstrip("/").rsplit("/", 1)[1]) for path in TRACKED.findall(html)}
    assert in_html == set(table)
    assert in_text == set(table)  # the text part shows the title's URL under it
    # Longer hrefs, and still no line near RFC 5322's 998-octet limit once the token is in.
    assert max(len(line) for line in (text + html).split("\n")) < 900
    # One token per reader: the same link number, another reader's token.
    mine, theirs = _line(text, "PDF", papers[0]), _line(other_text, "PDF", papers[0])
    assert mine != theirs and mine.rsplit("/", 2)[1] == theirs.rsplit("/", 2)[1]


def test_following_a_link_from_the_eml_records_one_click_and_lands_on_the_paper(ses, sent, papers) -> None:
    reader, _other, edition = sent
    text, html = _parts(ses, reader.email)
    title_href = re.search(rf'href="http://testserver(/r/[^"]+)"[^>]*>{re.escape(papers[1].title)}<', html).group(1)

    client = Client()
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        response = client.get(_line(text, "", papers[0]), headers={"User-Agent": BROWSER})
        from_html = client.get(title_href, headers={"User-Agent": BROWSER})
    clicks_drain()

    assert response.status_code == 302
    assert response["Location"] == f"https://arxiv.org/abs/{papers[0].arxiv_id}"
    assert from_html.status_code == 302
    assert from_html["Location"] == EditionLink.objects.get(edition=edition, paper=papers[1], kind="title").url
    rows = sorted(Click.objects.values_list("subscriber_id", "edition_id", "paper_id", "kind", "count", "flag_reason"))
    assert rows == sorted(
        [(reader.pk, edition.pk, papers[0].pk, "title", 1, ""), (reader.pk, edition.pk, papers[1].pk, "title", 1, "")]
    )
    assert Click.objects.counted().count() == 2
    assert {row.paper_id: row.readers for row in PaperClicks.objects.all()} == {papers[0].pk: 1, papers[1].pk: 1}


def test_a_head_and_a_click_within_the_scanner_window_are_recorded_flagged_and_not_counted(ses, sent, papers) -> None:
    reader, other, _edition = sent
    client = Client()
    # A scanner at the reader's gateway: a GET seconds after delivery, with a browser's User-Agent.
    assert (
        client.get(_line(_parts(ses, reader.email)[0], "PDF", papers[0]), headers={"User-Agent": BROWSER})["Location"]
        == f"https://arxiv.org/pdf/{papers[0].arxiv_id}"
    )
    # Another's gateway checks a link with HEAD an hour later; it still gets the 302.
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        head = client.head(_line(_parts(ses, other.email)[0], "Code", papers[0]), headers={"User-Agent": BROWSER})
    assert head.status_code == 302 and head["Location"] == "https://github.com/example/one"
    clicks_drain()

    assert sorted(Click.objects.values_list("subscriber_id", "kind", "flag_reason", "count")) == sorted(
        [(reader.pk, "pdf", "window", 1), (other.pk, "code", "head", 1)]
    )
    assert not Click.objects.counted().exists()
    assert not PaperClicks.objects.exists()


def test_a_tampered_token_from_the_email_redirects_nowhere_and_records_nothing(ses, sent, papers) -> None:
    reader, other, _edition = sent
    path = _line(_parts(ses, reader.email)[0], "PDF", papers[0])
    token, number = path.strip("/").split("/")[1:]
    subscriber_part, _, signature = token.partition(":")
    forged = [
        f"/r/{subscriber_part}:{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}/{number}/",  # signature changed
        f"/r/{token.replace(str(reader.pk), str(other.pk), 1)}/{number}/",  # another reader's id, same signature
        f"/r/{token}/{int(number) + 1000}/",  # a link the edition does not have
    ]
    client = Client()
    for forged_path in forged:
        response = client.get(forged_path, headers={"User-Agent": BROWSER})
        assert response.status_code == 404, forged_path
        assert "Location" not in response
    clicks_drain()
    assert not Click.objects.exists()


def test_with_track_clicks_off_the_email_has_plain_links(ses, settings, papers) -> None:
    settings.TRACK_CLICKS = False
    reader = make_subscriber(email="reader@example.org")
    edition = make_edition(date=TODAY, papers=papers)
    _send(edition)

    text, html = _parts(ses, reader.email)
    assert "/r/" not in text + html
    assert f"{papers[0].title}\nhttps://arxiv.org/abs/{papers[0].arxiv_id}\n" in text
    assert f'href="https://arxiv.org/pdf/{papers[1].arxiv_id}"' in html
    assert "Code: https://github.com/example/one" in text
    assert not EditionLink.objects.filter(edition=edition).exists()
