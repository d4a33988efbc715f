"""The edition page shows readers' votes per paper, and previews the email as a given reader."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from subscribers.models import Vote
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
    assert response.context["votes"] == [
        (1, "Voted paper 0", 3, 1),
        (2, "Voted paper 1", 0, 0),
        (3, "Voted paper 2", 0, 1),
    ]
    assert 'id="paper-votes"' in response.content.decode()
