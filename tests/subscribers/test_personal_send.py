"""The must-shows of "readers teach the newsletter", through a real send into moto's SES.

A reader who liked three papers on one topic gets a paper on that topic first in "For you" the next day; a paper
received yesterday appears only as a "Still trending" line today; every paper carries its two feedback links, and
following one (GET, then the page's POST) records the vote.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from html import escape as html_escape

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from digest.models import Edition
from digest.vectors import representation_fit, vectors_refresh
from subscribers import personalize
from subscribers.delivery.body import clear_body_cache
from subscribers.delivery.chunk import chunk_send
from subscribers.delivery.fanout import deliveries_fan_out
from subscribers.delivery.operator import edition_send_now
from subscribers.feedback import Choice, vote_record
from subscribers.links import feedback_links
from subscribers.models import EditionLink, Subscriber, Vote
from tests.corpus import make_corpus, make_topic_paper
from tests.factories import make_edition
from tests.subscribers.factories import make_subscriber

pytestmark = pytest.mark.django_db
TODAY = date(2025, 3, 14)


def _part(message: Message, kind: str) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == kind)
    return part.get_payload(decode=True).decode()


def _mail_to(ses, address: str, subject_date: date) -> Message:
    day = f"{subject_date.day} {subject_date:%B %Y}"
    found = [m for m in ses.messages() if m["To"] == address and day in m["Subject"]]
    assert len(found) == 1, [(m["To"], m["Subject"]) for m in ses.messages()]
    return found[0]


def _send(edition: Edition) -> None:
    Edition.objects.filter(pk=edition.pk).update(status=Edition.Status.APPROVED)
    edition.refresh_from_db()
    clear_body_cache()
    personalize.clear_cache()
    result = edition_send_now(edition=edition, now=edition_now(edition), sleep=lambda _s: None)
    assert result.failed == 0 and not result.retry


def edition_now(edition: Edition) -> datetime:
    return datetime(edition.date.year, edition.date.month, edition.date.day, 9, tzinfo=UTC)


@pytest.fixture
def corpus():
    papers = make_corpus(listed_date=TODAY - timedelta(days=3))
    representation_fit(today=TODAY)
    return papers


def test_three_likes_on_a_topic_put_a_paper_on_it_first_in_for_you_the_next_day(ses, corpus):
    reader, other = make_subscriber(email="liker@example.org"), make_subscriber(email="other@example.org")
    # Yesterday the reader pressed "More like this" on three protein papers, through the links and the page's POST.
    client = Client()
    for paper in corpus["protein"][:3]:
        url = feedback_links(reader, paper.pk).more_url.removeprefix("http://testserver")
        assert client.get(url).status_code == 200
        assert client.post(url, {"choice": "more"}).status_code == 200
    assert Vote.objects.filter(subscriber=reader, value=1).count() == 3
    # Today's list: the protein paper trends last.
    todays = [make_topic_paper(t, listed_date=TODAY, index=7) for t in ("language", "robots", "diffusion", "protein")]
    edition = make_edition(date=TODAY, papers=todays)
    _send(edition)

    mail = _mail_to(ses, "liker@example.org", TODAY)
    html, text = _part(mail, "text/html"), _part(mail, "text/plain")
    protein = todays[3]
    # "For you" opens the email, before the day's list, with the protein paper first and why.
    foryou = text.split("FOR YOU", 1)[1].split("TODAY'S TRENDING PAPERS", 1)[0]
    first_pick = " ".join(foryou.strip().split("\n* ", 1)[0].split())
    assert first_pick.startswith(f"* {protein.title}"), first_pick
    assert re.search(r"because you liked “[^”]+”", first_pick)
    assert re.search(r">For you</p>.*?>Today(&#x27;|')s trending papers</p>", html, re.DOTALL)
    assert html.split(">For you</p>", 1)[1].split("</a>", 1)[0].endswith(html_escape(protein.title))
    # A reader who taught nothing gets no "For you", and the same list.
    assert "FOR YOU" not in _part(_mail_to(ses, "other@example.org", TODAY), "text/plain")
    assert other.pk != reader.pk


def test_a_paper_received_yesterday_is_only_a_still_trending_line_today(ses, corpus):
    make_subscriber(email="daily@example.org")
    yesterday_papers = [make_topic_paper(t, listed_date=TODAY - timedelta(days=1), index=8) for t in ("robots",)]
    yesterday = make_edition(date=TODAY - timedelta(days=1), papers=yesterday_papers)
    _send(yesterday)
    make_subscriber(email="newcomer@example.org")  # joins today: yesterday's paper is news to them
    fresh = make_topic_paper("language", listed_date=TODAY, index=8)
    again = yesterday_papers[0]
    today = make_edition(date=TODAY, papers=[again, fresh])
    _send(today)

    old_hand = _part(_mail_to(ses, "daily@example.org", TODAY), "text/plain")
    assert re.search(r"#1 Still trending \(day 2\):\n" + re.escape(again.title.split()[0]), old_hand)
    assert again.abstract.split(".")[0] not in old_hand  # no full card: not its abstract
    assert fresh.abstract.split(".")[0] in old_hand
    html = _part(_mail_to(ses, "daily@example.org", TODAY), "text/html")
    assert "Still trending" in html and again.abstract.split(".")[0] not in html
    newcomer = _part(_mail_to(ses, "newcomer@example.org", TODAY), "text/plain")
    assert "Still trending" not in newcomer and again.abstract.split(".")[0] in newcomer


def test_every_paper_carries_both_feedback_links_and_following_one_records_the_vote(ses, corpus):
    reader = make_subscriber(email="voter@example.org")
    todays = [make_topic_paper(t, listed_date=TODAY, index=5) for t in ("language", "robots")]
    _send(make_edition(date=TODAY, papers=todays))
    mail = _mail_to(ses, "voter@example.org", TODAY)
    text, html = _part(mail, "text/plain"), _part(mail, "text/html")
    more = re.findall(r"More like this: http://testserver(/feedback/\S+/more/)", text)
    less = re.findall(r"Less like this: http://testserver(/feedback/\S+/less/)", text)
    assert len(more) == len(less) == 2
    assert html.count(">More like this</a>") == 2 and html.count(">Less like this</a>") == 2
    client = Client()
    assert client.get(less[1]).status_code == 200 and not Vote.objects.exists()
    client.post(less[1], {"choice": "less"})
    assert list(Vote.objects.values_list("subscriber_id", "paper_id", "value")) == [(reader.pk, todays[1].pk, -1)]


def test_a_chunk_with_profiles_costs_the_same_queries_at_5_and_at_60_readers(corpus, postgres, settings):
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    todays = [make_topic_paper(t, listed_date=TODAY, index=6) for t in ("language", "protein", "robots")]
    vectors_refresh(today=TODAY)  # as the fetch that brought them in does
    yesterday = make_edition(date=TODAY - timedelta(days=1), papers=todays[:1])
    edition = make_edition(date=TODAY, papers=todays, status=Edition.Status.APPROVED)

    def queries(size: int) -> int:
        readers = [make_subscriber(keywords=["grasping"]) for _ in range(size)]
        for reader in readers:
            vote_record(subscriber=reader, paper=corpus["protein"][0], choice=Choice.MORE)
        ids = [r.pk for r in readers]
        deliveries_fan_out(
            edition=yesterday, recipients=Subscriber.objects.filter(pk__in=ids), now=edition_now(edition)
        )
        yesterday.deliveries.update(status="sent")
        deliveries_fan_out(edition=edition, recipients=Subscriber.objects.filter(pk__in=ids), now=edition_now(edition))
        clear_body_cache()
        personalize.clear_cache()
        EditionLink.objects.all().delete()  # both runs render the body as the first chunk of a send does
        with CaptureQueriesContext(connection) as captured:
            assert chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1]).sent == size
        return len(captured)

    small, large = queries(5), queries(60)
    assert small == large, (small, large)
    assert Subscriber.objects.count() == 65
    # The chunk's own queries, then the personalising: the representation's version, the upvote history and
    # vectors of the edition's papers (once per edition per process), earlier deliveries, profiles, votes and the
    # liked papers' vectors. And 2 for the complaint-rate brake's checkpoint (subscribers/brake.py), 3 for the
    # edition's link table written with the body (subscribers/clicks/emailed.py: read, insert, read back).
    assert large <= 14 + 5 + 2 + 3
