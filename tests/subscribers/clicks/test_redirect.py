"""The redirect on the embedded default (no Redis): every click is in the database when the 302 leaves."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from digest.models import Edition, PaperClicks
from subscribers.models import AgentClass, Click
from tests.factories import make_edition, make_paper
from tests.subscribers.clicks.conftest import BROWSER, DAY, Tracked, record_links, send_to
from tests.subscribers.factories import make_subscriber

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_redis")]


def _click(client: Client, tracked: Tracked, number: int, *, agent: str = BROWSER, method: str = "get", **kw):
    return getattr(client, method)(tracked.path(number, kw.pop("reader", None)), headers={"User-Agent": agent})


def test_a_click_redirects_to_the_link_and_records_one_click(client: Client, tracked: Tracked) -> None:
    paper = tracked.papers[1]

    response = _click(client, tracked, 6)

    assert response.status_code == 302
    assert response["Location"] == f"https://arxiv.org/pdf/{paper.arxiv_id}"
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "no-referrer"  # the token never reaches arxiv.org
    click = Click.objects.get()
    assert (click.subscriber, click.edition, click.paper, click.kind) == (tracked.reader, tracked.edition, paper, "pdf")
    assert (click.count, click.flagged, click.flag_reason, click.agent) == (1, False, "", AgentClass.BROWSER)
    assert click.first_at == click.last_at == click.counted_at
    assert PaperClicks.objects.get(paper=paper).readers == 1


def test_clicking_again_is_the_same_click(client: Client, tracked: Tracked) -> None:
    for _ in range(3):
        assert _click(client, tracked, 2).status_code == 302

    click = Click.objects.get()
    assert click.count == 3 and click.first_at < click.last_at
    assert PaperClicks.objects.get(paper=tracked.papers[0]).readers == 1


def test_each_link_kind_is_its_own_click_but_one_reader_per_paper(client: Client, tracked: Tracked) -> None:
    for number in (1, 2, 3):  # title, arXiv and PDF of the first paper
        _click(client, tracked, number)

    assert sorted(Click.objects.values_list("kind", flat=True)) == ["arxiv", "pdf", "title"]
    assert PaperClicks.objects.get(paper=tracked.papers[0]).readers == 1


def test_two_readers_are_two_readers(client: Client, tracked: Tracked) -> None:
    other = make_subscriber()
    send_to(tracked.edition, other)

    _click(client, tracked, 1)
    _click(client, tracked, 2, reader=other)

    assert PaperClicks.objects.get(paper=tracked.papers[0]).readers == 2


def test_head_is_recorded_flagged_and_not_counted(client: Client, tracked: Tracked) -> None:
    response = _click(client, tracked, 1, method="head")

    assert response.status_code == 302  # scanners get the same answer: nothing tells them apart
    click = Click.objects.get()
    assert (click.flagged, click.flag_reason, click.flagged_count) == (True, Click.FlagReason.HEAD, 1)
    assert not Click.objects.counted().exists()
    assert not PaperClicks.objects.exists()


def test_a_scanner_user_agent_is_flagged(client: Client, tracked: Tracked) -> None:
    _click(client, tracked, 1, agent="Mozilla/5.0 (compatible; Proofpoint URL Defense)")

    click = Click.objects.get()
    assert (click.flagged, click.flag_reason, click.agent) == (True, Click.FlagReason.USER_AGENT, AgentClass.SCANNER)
    assert not PaperClicks.objects.exists()


def test_a_click_within_the_scanner_window_is_flagged(client: Client, tracked: Tracked, settings) -> None:
    settings.SCANNER_WINDOW = 60
    quick = make_subscriber()
    send_to(tracked.edition, quick, ago=timedelta(seconds=5))

    _click(client, tracked, 1, reader=quick)

    click = Click.objects.get()
    assert (click.flagged, click.flag_reason) == (True, Click.FlagReason.SCANNER_WINDOW)
    assert not PaperClicks.objects.exists()


def test_a_person_after_the_scanner_turns_the_click_into_a_counted_one(client: Client, tracked: Tracked) -> None:
    _click(client, tracked, 1, method="head")
    _click(client, tracked, 1)

    click = Click.objects.get()
    assert (click.count, click.flagged_count, click.flagged, click.flag_reason) == (2, 1, False, "head")
    assert PaperClicks.objects.get(paper=tracked.papers[0]).readers == 1


@pytest.mark.parametrize(
    "mangle",
    [
        lambda path: path.replace("/r/", "/r/9", 1),  # the reader id changed
        lambda path: path[: path.rindex(":") + 5] + "AAAA" + path[path.rindex(":") + 9 :],  # the signature changed
        lambda path: path.replace(":", "", 1),  # no signature at all
    ],
)
def test_a_tampered_token_redirects_nowhere(client: Client, tracked: Tracked, mangle) -> None:
    response = client.get(mangle(tracked.path(1)), headers={"User-Agent": BROWSER})

    assert response.status_code == 404
    assert "Location" not in response
    assert b"does not lead anywhere" in response.content
    assert not Click.objects.exists()


def test_an_unknown_link_number_redirects_nowhere(client: Client, tracked: Tracked) -> None:
    response = _click(client, tracked, 999)

    assert response.status_code == 404 and "Location" not in response
    assert not Click.objects.exists()


def test_a_token_only_reaches_its_own_editions_links(client: Client, tracked: Tracked) -> None:
    # Another edition with another link table: a token for edition A cannot be combined with B's numbers to go
    # anywhere but A's own links, and an edition that recorded no table leads nowhere.
    elsewhere = make_paper()
    other = make_edition(date=DAY + timedelta(days=1), papers=[elsewhere], status=Edition.Status.SENT)
    record_links(other, [elsewhere])
    empty = make_edition(date=DAY + timedelta(days=2), papers=[make_paper()], status=Edition.Status.SENT)

    response = _click(client, tracked, 1)
    assert response["Location"] == f"https://arxiv.org/abs/{tracked.papers[0].arxiv_id}"
    from subscribers.clicks.links import click_url
    from subscribers.clicks.tokens import make_click_token

    token = make_click_token(subscriber_id=tracked.reader.pk, edition_id=empty.pk)
    response = client.get(click_url(token=token, number=1).removeprefix("http://testserver"))
    assert response.status_code == 404 and "Location" not in response


def test_other_methods_are_refused(client: Client, tracked: Tracked) -> None:
    response = client.post(tracked.path(1))

    assert response.status_code == 405 and "Location" not in response
    assert not Click.objects.exists()


def test_track_clicks_off_still_redirects_old_links_but_records_nothing(
    client: Client, tracked: Tracked, settings
) -> None:
    settings.TRACK_CLICKS = False

    response = _click(client, tracked, 1)

    assert response.status_code == 302
    assert not Click.objects.exists() and not PaperClicks.objects.exists()


def test_a_click_of_an_erased_reader_still_redirects_and_is_not_kept(client: Client, tracked: Tracked) -> None:
    path = tracked.path(1)
    tracked.reader.delete()

    response = client.get(path, headers={"User-Agent": BROWSER})

    assert response.status_code == 302
    assert not Click.objects.exists()
