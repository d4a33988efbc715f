from __future__ import annotations

import pytest

from digest.models import Edition
from subscribers.delivery.body import clear_body_cache
from tests.factories import make_edition, make_seen_paper
from tests.subscribers.delivery.helpers import TODAY, ScriptedBackend


@pytest.fixture(autouse=True)
def anymail_test_backend(settings) -> None:
    # Django's test setup swaps in locmem, which reports no ESP message id; Anymail's test backend does.
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"


@pytest.fixture
def edition(db) -> Edition:
    clear_body_cache()
    papers = [make_seen_paper(listed_date=TODAY, upvotes=10 * i, title=f"Paper number {i}") for i in range(3)]
    return make_edition(date=TODAY, papers=papers, status=Edition.Status.APPROVED, subject="Trending Papers: today")


@pytest.fixture
def scripted(settings):
    settings.EMAIL_BACKEND = "tests.subscribers.delivery.helpers.ScriptedBackend"
    ScriptedBackend.script = {}
    return ScriptedBackend.script
