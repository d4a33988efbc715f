from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from digest.models import Appearance, DigestDocument, Paper


@pytest.mark.django_db
def test_load_sample_fills_a_fresh_database_once() -> None:
    out = io.StringIO()
    call_command("load_sample", stdout=out)
    assert out.getvalue().count("created") == 3
    counts = (DigestDocument.objects.count(), Paper.objects.count(), Appearance.objects.count())
    assert counts == (3, 9, 14)
    assert not DigestDocument.objects.filter(status="failed").exists()
    # The pages overlap: one paper is on all three, and JSON gives it authors and upvotes.
    top = Paper.objects.get(appearance_count=3)
    assert top.authors and top.upvotes > 0
    snapshot = list(Paper.objects.order_by("pk").values())

    again = io.StringIO()
    call_command("load_sample", stdout=again)
    assert again.getvalue().count("unchanged") == 3
    assert (DigestDocument.objects.count(), Paper.objects.count(), Appearance.objects.count()) == counts
    assert list(Paper.objects.order_by("pk").values()) == snapshot
