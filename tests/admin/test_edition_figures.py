"""The edition list and the edition page count deliveries the same way: one set of status groups, one answer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from digest.models import Edition
from subscribers.models import Delivery
from tests.factories import make_edition, make_seen_paper
from tests.subscribers.factories import make_subscriber

pytestmark = pytest.mark.django_db

Status = Delivery.Status


def list_figures(client: Client, edition: Edition) -> dict[str, int]:
    """The delivery columns of the edition's row in the edition list, read from the page."""
    page = BeautifulSoup(client.get(reverse("admin:digest_edition_changelist")).content, "lxml")
    link = page.find("a", href=reverse("admin:digest_edition_change", args=[edition.pk]))
    row = link.find_parent("tr")
    return {name: int(row.find("td", class_=f"field-{name}").get_text()) for name in ("sent", "problems")}


def page_figures(client: Client, edition: Edition) -> dict[str, int]:
    """Every figure of the edition page's delivery table, read from the page."""
    page = BeautifulSoup(client.get(reverse("admin:digest_edition_change", args=[edition.pk])).content, "lxml")
    table = page.find("table", id="delivery-figures")
    return {cell["data-figure"]: int(cell.get_text()) for cell in table.find_all("td", attrs={"data-figure": True})}


def test_the_edition_list_and_the_edition_page_agree_on_every_delivery_figure(root_client: Client) -> None:
    day = timezone.localdate() + timedelta(days=1)
    edition = make_edition(date=day, papers=[make_seen_paper(listed_date=day)], status=Edition.Status.SENDING)
    other = make_edition(date=day - timedelta(days=1), status=Edition.Status.SENT)  # its rows must not leak in
    made = {Status.SENT: 3, Status.AMBIGUOUS: 2, Status.FAILED: 2, Status.BOUNCED: 1, Status.SKIPPED: 1}
    for status, count in made.items():
        for _ in range(count):
            Delivery.objects.create(edition=edition, subscriber=make_subscriber(), status=status)
    Delivery.objects.create(edition=other, subscriber=make_subscriber(), status=Status.AMBIGUOUS)

    listed, shown = list_figures(root_client, edition), page_figures(root_client, edition)

    # Sent: what the ESP accepted (a bounce was accepted first). Problems: failed, bounced, and ambiguous (the ESP
    # may or may not have it: a curator should know). Skipped is neither.
    assert listed == {"sent": 3 + 1, "problems": 2 + 2 + 1}
    assert {name: shown[name] for name in listed} == listed
    # The rest of the page's table, from the same statuses.
    assert shown == {
        "queued": 2,  # the ambiguous ones still wait for a decision (re-sent by default)
        "sent": 4,
        "failed": 2,
        "delivered": 0,
        "bounced": 1,
        "complained": 0,
        "opened": 0,
        "clicked": 0,
        "problems": 5,
    }
    assert list_figures(root_client, other) == {"sent": 0, "problems": 1}
