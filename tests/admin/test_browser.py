"""A curator's morning in headless Chromium: hide and pin, rebuild tomorrow, preview, test send, approve."""

from __future__ import annotations

import email
from datetime import timedelta
from email import policy
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from digest.models import Edition
from digest.trending import edition_build
from subscribers.models import Delivery
from tests.admin.conftest import curator_group
from tests.factories import make_edition, make_seen_paper
from tests.subscribers.factories import make_subscriber

# The live server thread sees only committed rows.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def outbox(settings, tmp_path: Path) -> Path:
    """The embedded .eml outbox backend, writing into this test's own folder."""
    settings.EMAIL_BACKEND = "config.mail.OutboxBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "outbox")
    return tmp_path / "outbox"


@pytest.fixture
def curator_login(admin_page) -> User:
    user = User.objects.create_user("carla", "carla@example.org", "carla-password", is_staff=True)
    user.groups.add(curator_group())
    admin_page.goto("/admin/login/")
    admin_page.fill("#id_username", "carla")
    admin_page.fill("#id_password", "carla-password")
    admin_page.click("input[type=submit]")
    admin_page.wait_for_url("**/admin/")
    return user


def run_action(page, title: str, action: str) -> None:
    page.goto("/admin/digest/paper/")
    row = page.locator("#result_list tr", has_text=title)
    row.locator("input.action-select").check()
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist")


def test_curator_shapes_tomorrows_edition(admin_page, curator_login, outbox: Path) -> None:
    page = admin_page
    today = timezone.localdate()
    tomorrow = today + timedelta(days=1)
    make_seen_paper(listed_date=today, upvotes=500, title="Overhyped benchmark paper")
    make_seen_paper(listed_date=today, upvotes=200, title="Solid middle paper")
    make_seen_paper(listed_date=today, upvotes=5, title="Hidden gem on sparse attention")
    make_subscriber(email="reader@example.org")
    edition = edition_build(date=tomorrow)

    page.goto(f"/admin/digest/edition/{edition.pk}/change/")
    preview = page.frame_locator("#preview-html")
    assert preview.locator("body").inner_text().index("Overhyped") < preview.locator("body").inner_text().index(
        "Hidden gem"
    )

    run_action(page, "Overhyped benchmark paper", "hide")
    assert "Hidden: 1 paper(s)." in page.locator(".messagelist").inner_text()
    run_action(page, "Hidden gem on sparse attention", "pin")
    assert "Pinned: 1 paper(s)." in page.locator(".messagelist").inner_text()

    page.goto(f"/admin/digest/edition/{edition.pk}/change/")
    page.click("button[value=rebuild]")
    page.wait_for_selector(".messagelist")
    assert "2 entries from the trending list" in page.locator(".messagelist").inner_text()
    html_part = page.frame_locator("#preview-html").locator("body").inner_text()
    assert "Overhyped" not in html_part
    assert html_part.index("Hidden gem on sparse attention") < html_part.index("Solid middle paper")
    text_part = page.locator("#preview-text").inner_text()
    assert "Overhyped" not in text_part and "Hidden gem on sparse attention" in text_part

    page.click("button[value=send_test]")
    page.wait_for_selector(".messagelist")
    assert "Test sent to carla@example.org" in page.locator(".messagelist").inner_text()
    files = list(outbox.glob("*.eml"))
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert message["To"] == "carla@example.org"
    assert message["Subject"].startswith("[Test] ")
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "Hidden gem on sparse attention" in body and "Overhyped" not in body

    page.click("button[value=approve]")
    page.wait_for_selector(".messagelist")
    assert page.locator("#edition-status").inner_text() == "Approved"
    edition.refresh_from_db()
    assert (edition.status, edition.approved_by) == (Edition.Status.APPROVED, curator_login)
    assert list(outbox.glob("*.eml")) == files  # approving sent nothing; only the test went out


def test_curator_cannot_export_subscribers(admin_page, curator_login) -> None:
    page = admin_page
    make_subscriber(email="private@example.org")
    page.goto("/admin/subscribers/subscriber/")
    assert page.locator("#result_list", has_text="private@example.org").count() == 1
    options = page.locator("select[name=action] option").all_inner_texts()
    assert options and not any("Export" in option for option in options)
    assert page.locator("#export-csv").count() == 0
    response = page.goto("/admin/subscribers/subscriber/export/")
    assert response is not None and response.status == 403
    assert "private@example.org" not in page.content()


def test_dashboard_fits_a_phone_without_sideways_scrolling(admin_page, curator_login) -> None:
    page = admin_page
    make_subscriber()
    make_subscriber(status="pending", confirmed_at=None)
    edition = make_edition(date=timezone.localdate(), status="sent")
    for status in ("sent", "opened", "clicked", "bounced"):
        Delivery.objects.create(edition=edition, subscriber=make_subscriber(), status=status)
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto(reverse("admin-dashboard"))
    page.wait_for_selector("#chart-click-rate")
    # A wide table may scroll inside its own box; the page itself must not scroll sideways.
    widths = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth})"
    )
    assert widths["scroll"] <= widths["client"], widths
