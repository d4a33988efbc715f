"""Feedback links: a GET changes nothing, the POST records once, forged / expired / rotated links change nothing."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import time_machine
from django.core import signing
from django.test import Client
from django.utils import timezone

from digest.vectors import representation_fit
from subscribers import links
from subscribers.feedback import LINK_MAX_AGE
from subscribers.models import Profile, Subscriber, Vote
from subscribers.services import subscriber_delete
from subscribers.tokens import Purpose, make_feedback_token, make_token
from tests.corpus import make_corpus
from tests.subscribers.factories import make_subscriber

pytestmark = pytest.mark.django_db
DAY = date(2025, 3, 14)


@pytest.fixture
def corpus():
    papers = make_corpus(listed_date=DAY)
    representation_fit(today=DAY)
    return papers


def _path(url: str) -> str:
    return url.removeprefix("http://testserver")


def _state() -> tuple:
    return (
        sorted(Vote.objects.values_list("subscriber_id", "paper_id", "value")),
        sorted(Profile.objects.values_list("subscriber_id", "vector")),
    )


def test_a_get_shows_the_paper_with_the_choice_selected_and_changes_nothing(client: Client, corpus):
    reader = make_subscriber()
    paper = corpus["protein"][0]
    feedback = links.feedback_links(reader, paper.pk)
    before = _state()
    for url, checked in ((feedback.more_url, 'value="more" checked'), (feedback.less_url, 'value="less" checked')):
        response = client.get(_path(url))
        body = response.content.decode()
        assert response.status_code == 200
        assert paper.title in body and checked in body
        assert body.count('type="submit"') == 1 and 'name="csrfmiddlewaretoken"' in body
        assert f'action="{_path(url)}"' in body and 'method="post"' in body
        assert response["Cache-Control"].startswith("max-age=0") and "noindex" in response["X-Robots-Tag"]
    assert _state() == before == ([], [])


def test_the_page_shows_the_abstract_as_the_email_does_without_leftover_tex(client: Client, corpus):
    paper = corpus["protein"][0]
    paper.abstract = "Proteins fold. Code at https://example.org/fold{blue{https://example.org/fold/}}, 5\\% faster."
    paper.save(update_fields=["abstract"])
    body = client.get(_path(links.feedback_links(make_subscriber(), paper.pk).more_url)).content.decode()
    assert "Code at https://example.org/fold/, 5% faster." in body and "{blue{" not in body


def test_the_post_records_once_and_a_second_vote_replaces_the_first(corpus):
    client = Client(enforce_csrf_checks=True)
    reader = make_subscriber()
    paper = corpus["diffusion"][0]
    feedback = links.feedback_links(reader, paper.pk)
    page = client.get(_path(feedback.more_url))
    csrf = page.cookies["csrftoken"].value
    for _ in range(2):  # a double click
        response = client.post(_path(feedback.more_url), {"choice": "more", "csrfmiddlewaretoken": csrf})
        assert response.status_code == 200 and "Thanks" in response.content.decode()
    assert list(Vote.objects.values_list("subscriber_id", "paper_id", "value")) == [(reader.pk, paper.pk, 1)]
    assert Profile.objects.filter(subscriber=reader, likes=1).exists()
    # The reader changes their mind on the page of the "more" link: the choice posted wins, and replaces the vote.
    client.post(_path(feedback.more_url), {"choice": "less", "csrfmiddlewaretoken": csrf})
    assert list(Vote.objects.values_list("value", flat=True)) == [-1]
    # Nothing to lean toward any more (no like, no keyword): no profile.
    assert not Profile.objects.filter(subscriber=reader).exists()


def test_a_post_without_the_csrf_token_changes_nothing(corpus):
    client = Client(enforce_csrf_checks=True)
    reader = make_subscriber()
    url = _path(links.feedback_links(reader, corpus["robots"][0].pk).more_url)
    assert client.post(url, {"choice": "more"}).status_code == 403
    assert _state() == ([], [])


def test_forged_tampered_expired_and_rotated_links_change_nothing(client: Client, corpus):
    reader, other = make_subscriber(), make_subscriber()
    paper = corpus["robots"][0]
    good = make_feedback_token(subscriber_id=reader.pk, token_key=reader.token_key, paper_id=paper.pk)
    reader_id, paper_id, stamp, mac = good.split(".")
    forged = [
        f"{reader_id}.{paper_id}.{stamp}.{mac[:-2]}{'AA' if not mac.endswith('AA') else 'BB'}",  # MAC tampered
        f"{other.pk}.{paper_id}.{stamp}.{mac}",  # another reader under this MAC
        f"{reader_id}.{corpus['robots'][1].pk}.{stamp}.{mac}",  # another paper under this MAC
        f"{reader_id}.{paper_id}.{signing.b62_encode(signing.b62_decode(stamp) + 86400)}.{mac}",
        make_feedback_token(subscriber_id=reader.pk, token_key="guessed-key", paper_id=paper.pk),
        make_token(subscriber_id=reader.pk, token_key=reader.token_key, purpose=Purpose.PREFERENCES),  # wrong kind
        "1.2.3",
        "x" * 500,
    ]
    for token in forged:
        for verb in ("get", "post"):
            response = getattr(client, verb)(f"/feedback/{token}/more/", {"choice": "more"} if verb == "post" else {})
            assert response.status_code == 400, token
    assert _state() == ([], [])
    with time_machine.travel(timezone.now() + LINK_MAX_AGE + timedelta(days=1)):
        assert client.post(f"/feedback/{good}/more/", {"choice": "more"}).status_code == 400
    assert _state() == ([], [])
    Subscriber.objects.filter(pk=reader.pk).update(token_key="rotated")
    assert client.post(f"/feedback/{good}/less/", {"choice": "less"}).status_code == 400
    assert _state() == ([], [])
    # Within the expiry and under the current key, a token works.
    fresh = make_feedback_token(subscriber_id=reader.pk, token_key="rotated", paper_id=paper.pk)
    assert client.post(f"/feedback/{fresh}/less/", {"choice": "less"}).status_code == 200
    assert Vote.objects.count() == 1


def test_a_deleted_reader_loses_their_votes_and_their_links(client: Client, corpus):
    reader = make_subscriber()
    paper = corpus["language"][0]
    url = _path(links.feedback_links(reader, paper.pk).more_url)
    client.post(url, {"choice": "more"})
    assert Vote.objects.count() == 1 and Profile.objects.count() == 1
    subscriber_delete(subscriber=reader)
    assert Vote.objects.count() == 0 and Profile.objects.count() == 0
    # The link died with the reader's key: it cannot be told from a forged one.
    assert client.post(url, {"choice": "more"}).status_code == 400
    assert Vote.objects.count() == 0


def test_preferences_list_votes_with_undo_and_the_export_includes_them(client: Client, corpus):
    reader = make_subscriber(keywords=["protein"])
    liked, disliked = corpus["protein"][0], corpus["robots"][0]
    client.post(_path(links.feedback_links(reader, liked.pk).more_url), {"choice": "more"})
    client.post(_path(links.feedback_links(reader, disliked.pk).less_url), {"choice": "less"})
    token = make_token(subscriber_id=reader.pk, token_key=reader.token_key, purpose=Purpose.PREFERENCES)
    page = client.get(f"/preferences/{token}/").content.decode()
    assert liked.title in page and disliked.title in page and page.count(">Undo</button>") == 2
    export = json.loads(client.get(f"/preferences/{token}/export/").content)
    assert {(v["paper"], v["choice"]) for v in export["votes"]} == {(liked.title, "more"), (disliked.title, "less")}
    profile_before = bytes(Profile.objects.get(subscriber=reader).vector)
    response = client.post(f"/preferences/{token}/votes/{liked.pk}/undo/")
    assert response.status_code == 303 and response["Location"].endswith("#votes")
    assert list(Vote.objects.values_list("paper_id", flat=True)) == [disliked.pk]
    # The profile follows at once: only the keyword and the dislike are left.
    assert bytes(Profile.objects.get(subscriber=reader).vector) != profile_before
    assert client.post(f"/preferences/{token}/votes/{liked.pk}/undo/").status_code == 303  # undoing twice is harmless
    assert client.get(f"/preferences/{token}/votes/{liked.pk}/undo/").status_code == 405
