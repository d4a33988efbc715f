from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from subscribers.dashboard import bar_chart, line_chart
from subscribers.models import Delivery
from subscribers.reports import list_history
from tests.factories import make_edition
from tests.subscribers.factories import make_subscriber

pytestmark = pytest.mark.django_db


def test_list_history_walks_back_from_todays_count() -> None:
    now = timezone.now()
    today = timezone.localdate()
    with time_machine.travel(now - timedelta(days=3), tick=False):
        stays = make_subscriber()  # confirmed three days ago
        leaves = make_subscriber()
    with time_machine.travel(now - timedelta(days=1), tick=False):
        leaves.status, leaves.unsubscribed_at = "unsubscribed", timezone.now()
        leaves.save()
    make_subscriber()  # confirmed today
    history = list_history(end=today, days=5)
    assert history.days[-1] == today
    assert history.active == [0, 2, 2, 1, 2]
    assert history.confirmations == [0, 2, 0, 0, 1]
    assert history.unsubscribes == [0, 0, 0, 1, 0]
    assert stays.pk


def test_charts_scale_to_their_box() -> None:
    days = [timezone.localdate() - timedelta(days=i) for i in (2, 1, 0)]
    line = line_chart("Active", days, [0, 5, 10])
    assert line.points == "0.0,64.0 150.0,32.5 300.0,1.0"
    bars = bar_chart("Sign-ups", days, [0, 3, 6])
    assert [b.height for b in bars.bars] == [0.0, 31.5, 63.0]
    assert bar_chart("Empty", days, [0, 0, 0]).peak == 0


def test_dashboard_renders_inline_svg_and_no_script(root_client: Client) -> None:
    make_subscriber()
    make_subscriber(status="pending", confirmed_at=None)
    edition = make_edition(date=timezone.localdate(), status="sent")
    for status in ("sent", "opened", "clicked", "bounced"):
        Delivery.objects.create(edition=edition, subscriber=make_subscriber(), status=status)
    response = root_client.get(reverse("admin-dashboard"))
    assert response.status_code == 200
    content = response.content.decode()
    assert content.count("<svg") >= 6
    assert "<polyline" in content and "<rect" in content
    # No chart library, nothing remote: the only scripts are Django admin's own, served from static.
    assert not re.search(r"<script[^>]+src=\"https?://", content)
    assert "Active: <strong>" in content and "Pending confirmation: <strong>1</strong>" in content
    row = content[content.index('id="edition-figures"') :]
    assert str(edition) in row and "50%" in row  # opened or clicked: 2 of the 4 that left us (bounced too)
    assert "Dashboard" in root_client.get(reverse("admin:index")).content.decode()
