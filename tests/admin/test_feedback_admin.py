"""The edition page shows readers' votes per paper, and previews the email as a given reader."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from digest.vectors import representation_fit
from subscribers.feedback import Choice, vote_record
from subscribers.models import Vote
from tests.corpus import make_corpus, make_topic_paper
from tests.factories import make_edition, make_seen_paper
from tests.subscribers.factories import make_subscriber

pytestmark = pytest.mark.django_db


def test_the_edition_page_shows_votes_up_and_down_per_paper(root_client: Client, django_assert_max_num_queries):
    today = timezone.localdate()
    papers = [make_seen_paper(listed_date=today, title=f"Voted paper {i}") for i in range(3)]
    edition = make_edition(date=today, papers=papers)
    readers = [make_subscriber() for _ in range(4)]
    for reader, value in zip(readers, (1, 1, 1, -1), strict=True):
        Vote.objects.create(subscriber=reader, paper=papers[0], value=value)
    Vote.objects.create(subscriber=readers[0], paper=papers[2], value=-1)
    response = root_client.get(reverse("admin:digest_edition_change", args=[edition.pk]))
    assert response.status_code == 200
    assert [(p.position, p.title, p.more, p.less) for p in response.context["papers"]] == [
        (1, "Voted paper 0", 3, 1),
        (2, "Voted paper 1", 0, 0),
        (3, "Voted paper 2", 0, 1),
    ]
    assert 'id="paper-votes"' in response.content.decode()


def test_preview_as_a_given_reader_shows_their_for_you(root_client: Client):
    today = timezone.localdate()
    corpus = make_corpus(listed_date=today - timedelta(days=2))
    representation_fit(today=today)
    reader = make_subscriber(email="learner@example.org")
    for paper in corpus["diffusion"][:3]:
        vote_record(subscriber=reader, paper=paper, choice=Choice.MORE)
    papers = [make_topic_paper(t, listed_date=today, index=4) for t in ("robots", "diffusion")]
    edition = make_edition(date=today, papers=papers)
    url = reverse("admin:digest_edition_change", args=[edition.pk])

    as_reader = root_client.get(url, {"reader": "learner@example.org"}).context["preview"]
    assert "FOR YOU" in as_reader.text and as_reader.to == "learner@example.org"
    picks = as_reader.text.split("FOR YOU", 1)[1].split("TODAY'S TRENDING PAPERS", 1)[0]
    assert picks.strip().startswith(f"* {papers[1].title.split()[0]}") and "because you liked" in picks
    # The curator's own preview (not a subscriber) has no "For you"; an unknown address says so.
    assert "FOR YOU" not in root_client.get(url).context["preview"].text
    missing = root_client.get(url, {"reader": "nobody@example.org"})
    assert 'id="preview-reader-missing"' in missing.content.decode()
