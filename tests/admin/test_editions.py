from __future__ import annotations

import html
from datetime import timedelta

import pytest
import time_machine
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from digest.models import Edition, EditionEntry, Paper
from digest.rendering import edition_body
from subscribers.messages import edition_message
from subscribers.models import Delivery
from tests.admin.forms import change_form_data
from tests.factories import make_edition, make_paper, make_seen_paper
from tests.subscribers.factories import make_subscriber

pytestmark = pytest.mark.django_db


def change_url(edition: Edition) -> str:
    return reverse("admin:digest_edition_change", args=[edition.pk])


def move(client: Client, edition: Edition, name: str, **data: str):
    return client.post(reverse("admin:digest_edition_move", args=[edition.pk, name]), data, follow=True)


def entry_titles(edition: Edition) -> list[str]:
    return list(edition.entries.order_by("position").values_list("paper__title", flat=True))


@pytest.fixture
def tomorrow():
    return timezone.localdate() + timedelta(days=1)


@pytest.fixture
def trending(tomorrow) -> list[Paper]:
    """Three papers listed today, most upvoted first."""
    today = timezone.localdate()
    return [
        make_seen_paper(listed_date=today, upvotes=votes, title=f"Paper with {votes} votes") for votes in (90, 40, 10)
    ]


def test_add_goes_to_build_and_build_creates_the_edition_from_the_trending_list(
    root_client: Client, superuser, trending, tomorrow
) -> None:
    assert root_client.get(reverse("admin:digest_edition_add")).url == reverse("admin:digest_edition_build")
    response = root_client.post(reverse("admin:digest_edition_build"), {"date": tomorrow, "frequency": "daily"})
    edition = Edition.objects.get(date=tomorrow, frequency="daily")
    assert response.url == change_url(edition)
    assert entry_titles(edition) == [p.title for p in trending]
    assert LogEntry.objects.get(user=superuser, object_id=str(edition.pk)).action_flag == ADDITION


def test_change_page_previews_the_email_as_it_renders(root_client: Client, trending, tomorrow) -> None:
    edition = make_edition(date=tomorrow, papers=trending, intro="Curator's <b>note</b> & more")
    response = root_client.get(change_url(edition))
    content = response.content.decode()
    preview = response.context["preview"]
    # The HTML part is embedded whole in a sandboxed iframe (escaped into srcdoc), the text part beside it.
    assert f'sandbox srcdoc="{html.escape(preview.html, quote=True)}"' in content
    assert "Paper with 90 votes" in preview.html and "Paper with 90 votes" in preview.text
    assert "Curator&#x27;s &lt;b&gt;note&lt;/b&gt; &amp; more" in preview.html or "Curator" in preview.html
    assert html.escape(preview.text, quote=True).split("\n")[0] in content
    assert preview.to == "root@example.org"
    assert preview.subject == edition.subject or preview.subject.endswith(tomorrow.strftime("%Y"))


def test_preview_matches_the_sent_message_for_a_subscriber(root_client: Client, trending, tomorrow) -> None:
    subscriber = make_subscriber(email="root@example.org", keywords=["votes"])
    edition = make_edition(date=tomorrow, papers=trending)
    # Links are signed with a timestamp: render both within the same (frozen) second.
    with time_machine.travel(timezone.now(), tick=False):
        preview = root_client.get(change_url(edition)).context["preview"]
        message = edition_message(edition_body(edition), subscriber)
    assert preview.text == message.body
    assert preview.html == message.alternatives[0][0]


def test_reorder_add_and_remove_entries(root_client: Client, superuser, trending, tomorrow) -> None:
    edition = make_edition(date=tomorrow, papers=trending)
    extra = make_paper(title="Added by hand")
    data = change_form_data(root_client.get(change_url(edition)))
    # Move the third paper to the top, remove the second, add one at position 2.
    data["entries-2-position"] = "1"
    data["entries-1-DELETE"] = "on"
    data["entries-2-0-paper"] = str(extra.pk)
    data["entries-2-0-position"] = "2"
    response = root_client.post(change_url(edition), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    assert entry_titles(edition) == ["Paper with 10 votes", "Added by hand", "Paper with 90 votes"]
    assert list(edition.entries.order_by("position").values_list("position", flat=True)) == [1, 2, 3]
    assert LogEntry.objects.filter(user=superuser, object_id=str(edition.pk), action_flag=CHANGE).exists()


def test_moving_an_entry_down_takes_the_asked_position(root_client: Client, trending, tomorrow) -> None:
    edition = make_edition(date=tomorrow, papers=trending)
    data = change_form_data(root_client.get(change_url(edition)))
    data["entries-0-position"] = "2"
    assert root_client.post(change_url(edition), data).status_code == 302
    assert entry_titles(edition) == ["Paper with 40 votes", "Paper with 90 votes", "Paper with 10 votes"]


def test_added_paper_without_position_goes_last_and_duplicates_are_refused(
    root_client: Client, trending, tomorrow
) -> None:
    edition = make_edition(date=tomorrow, papers=trending[:2])
    data = change_form_data(root_client.get(change_url(edition)))
    data["entries-2-0-paper"] = str(trending[2].pk)
    assert root_client.post(change_url(edition), data).status_code == 302
    assert entry_titles(edition)[-1] == "Paper with 10 votes"

    data = change_form_data(root_client.get(change_url(edition)))
    data["entries-2-0-paper"] = str(trending[0].pk)
    response = root_client.post(change_url(edition), data)
    assert response.status_code == 200  # the form comes back with the error
    assert edition.entries.count() == 3


def test_approve_hold_reopen_cancel_are_conditional_and_logged(root_client: Client, superuser, trending, tomorrow):
    edition = make_edition(date=tomorrow, papers=trending)
    move(root_client, edition, "approve")
    edition.refresh_from_db()
    assert (edition.status, edition.approved_by) == (Edition.Status.APPROVED, superuser)
    # An approved edition is frozen: its entries and text are read-only and it is not rebuilt.
    response = root_client.get(change_url(edition))
    assert not response.context["inline_admin_formsets"][0].has_change_permission
    response = move(root_client, edition, "rebuild")
    assert "Reopen it as a draft" in response.content.decode()
    move(root_client, edition, "hold")
    edition.refresh_from_db()
    assert edition.status == Edition.Status.HELD
    move(root_client, edition, "reopen")
    edition.refresh_from_db()
    assert (edition.status, edition.approved_by) == (Edition.Status.DRAFT, None)
    move(root_client, edition, "cancel")
    edition.refresh_from_db()
    assert edition.status == Edition.Status.CANCELLED
    response = move(root_client, edition, "approve")
    assert "cannot be approved" in response.content.decode()
    messages = list(
        LogEntry.objects.filter(object_id=str(edition.pk), action_flag=CHANGE)
        .order_by("pk")
        .values_list("change_message", flat=True)
    )
    assert messages == ["Approved", "Held", "Reopened as a draft", "Cancelled"]


def test_an_empty_edition_cannot_be_approved(root_client: Client, tomorrow) -> None:
    edition = make_edition(date=tomorrow)
    response = move(root_client, edition, "approve")
    assert "has no entries" in response.content.decode()
    edition.refresh_from_db()
    assert edition.status == Edition.Status.DRAFT


def test_moves_are_post_only(root_client: Client, trending, tomorrow) -> None:
    edition = make_edition(date=tomorrow, papers=trending)
    root_client.get(reverse("admin:digest_edition_move", args=[edition.pk, "approve"]))
    edition.refresh_from_db()
    assert edition.status == Edition.Status.DRAFT


def test_rebuild_after_hiding_and_pinning_changes_the_list(root_client: Client, trending, tomorrow) -> None:
    root_client.post(reverse("admin:digest_edition_build"), {"date": tomorrow, "frequency": "daily"})
    edition = Edition.objects.get(date=tomorrow)
    Paper.objects.filter(pk=trending[0].pk).update(hidden=True)
    Paper.objects.filter(pk=trending[2].pk).update(pinned=True)
    move(root_client, edition, "rebuild")
    assert entry_titles(edition) == ["Paper with 10 votes", "Paper with 40 votes"]
    assert "Rebuilt: 2 entries" in LogEntry.objects.latest("pk").change_message


def test_send_test_goes_to_the_staff_address_only_and_records_no_delivery(root_client: Client, trending, tomorrow):
    make_subscriber(email="reader@example.org")
    edition = make_edition(date=tomorrow, papers=trending)
    response = move(root_client, edition, "send_test")
    assert "Test sent to root@example.org" in response.content.decode()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["root@example.org"] and not message.cc and not message.bcc
    assert message.subject.startswith("[Test] ")
    assert "Paper with 90 votes" in message.body
    assert "List-Unsubscribe" in message.extra_headers
    assert not Delivery.objects.exists()
    assert LogEntry.objects.latest("pk").change_message.startswith("Test sent to root@example.org")


def test_delivery_figures_and_failures_on_the_edition_page(root_client: Client, trending, tomorrow) -> None:
    edition = make_edition(date=tomorrow, papers=trending, status=Edition.Status.SENT)
    statuses = ["sent"] * 3 + ["delivered"] * 2 + ["opened", "clicked", "failed", "bounced", "complained", "queued"]
    for status in statuses:
        Delivery.objects.create(
            edition=edition,
            subscriber=make_subscriber(),
            status=status,
            last_error="550 mailbox unavailable" if status == "failed" else "",
        )
    response = root_client.get(change_url(edition))
    figures = dict(response.context["figures"])
    assert figures == {
        "queued": 1,
        "sent": 9,  # sent, delivered, opened, clicked, bounced and complained all left us
        "failed": 1,
        "delivered": 5,
        "bounced": 1,
        "complained": 1,
        "opened": 2,
        "clicked": 1,
    }
    content = response.content.decode()
    assert "550 mailbox unavailable" in content
    assert {d.status for d in response.context["problems"]} == {"failed", "bounced", "complained"}
    changelist = root_client.get(reverse("admin:digest_edition_changelist")).content.decode()
    assert '<td class="field-sent">9</td>' in changelist
    assert '<td class="field-problems">3</td>' in changelist


def test_entries_count_in_changelist(root_client: Client, trending, tomorrow) -> None:
    make_edition(date=tomorrow, papers=trending)
    assert (
        '<td class="field-entry_count">3</td>'
        in root_client.get(reverse("admin:digest_edition_changelist")).content.decode()
    )
    assert EditionEntry.objects.count() == 3


def test_send_now_approves_a_draft_and_queues_it_through_the_real_sending_path(
    root_client: Client, superuser, trending, tomorrow, django_capture_on_commit_callbacks
) -> None:
    readers = [make_subscriber() for _ in range(3)]
    make_subscriber(status="unsubscribed")
    edition = make_edition(date=tomorrow, papers=trending)
    with django_capture_on_commit_callbacks(execute=True):
        response = move(root_client, edition, "send_now")
    assert "Sending started: 1 chunk(s) queued" in response.content.decode()
    edition.refresh_from_db()
    assert edition.approved_by == superuser
    # The eager worker sent the chunk: one message per active reader, each recorded as a delivery.
    assert sorted(m.to[0] for m in mail.outbox) == sorted(r.email for r in readers)
    assert Delivery.objects.filter(edition=edition, status="sent").count() == 3
    # Pressing it again sends nobody twice.
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        move(root_client, edition, "send_now")
    assert mail.outbox == []


def test_send_now_refuses_an_empty_edition_and_a_stale_daily_one(
    root_client: Client, settings, trending, tomorrow, django_capture_on_commit_callbacks
) -> None:
    settings.NEWSLETTER_SKIP_STALE_DAILY = True
    make_subscriber()
    empty = make_edition(date=tomorrow)
    with django_capture_on_commit_callbacks(execute=True):
        page = move(root_client, empty, "send_now").content.decode()
    assert "has no papers: an empty newsletter is never sent" in html.unescape(page)

    # Yesterday's edition went out after every page was ingested: tomorrow's would repeat its list.
    make_edition(date=tomorrow - timedelta(days=1), papers=trending, status="sent", built_at=timezone.now())
    stale = make_edition(date=tomorrow + timedelta(days=1), papers=trending)
    with django_capture_on_commit_callbacks(execute=True):
        page = move(root_client, stale, "send_now").content.decode()
    assert "list: no page was ingested since that edition was built" in html.unescape(page)
    assert mail.outbox == []
    assert not Delivery.objects.exists()
    for edition in (empty, stale):
        edition.refresh_from_db()
        assert edition.status == Edition.Status.DRAFT


# --- Settling deliveries left in doubt ------------------------------------------------------------------------


def left_in_doubt(edition_date, papers) -> tuple[Edition, Delivery]:
    """A sending edition whose only unsettled delivery is in doubt (the ESP may or may not have it)."""
    edition = make_edition(date=edition_date, papers=papers, status=Edition.Status.SENDING)
    Delivery.objects.create(edition=edition, subscriber=make_subscriber(), status="sent", sent_at=timezone.now())
    doubtful = Delivery.objects.create(
        edition=edition,
        subscriber=make_subscriber(email="doubtful@example.org"),
        status="ambiguous",
        ambiguous_at=timezone.now(),
        last_error="read timeout",
    )
    return edition, doubtful


def test_settling_in_doubt_as_sent_finishes_the_edition_sends_nothing_and_is_logged(
    root_client: Client, superuser, trending, tomorrow, django_capture_on_commit_callbacks
) -> None:
    edition, doubtful = left_in_doubt(tomorrow, trending)
    page = root_client.get(change_url(edition)).content.decode()
    assert "1 delivery is in doubt" in page and "the edition stays sending until you settle it" in page
    assert "In-doubt deliveries: count as sent" in page
    assert "In-doubt deliveries: send again" in page

    with django_capture_on_commit_callbacks(execute=True):
        response = move(root_client, edition, "settle_sent")
    assert "Settled 1 in-doubt deliveries as sent, not sent again; the edition is sent" in response.content.decode()
    doubtful.refresh_from_db()
    edition.refresh_from_db()
    assert doubtful.status == "sent" and (edition.status, edition.recipient_count) == (Edition.Status.SENT, 2)
    assert mail.outbox == []
    entry = LogEntry.objects.latest("pk")
    assert (entry.user, entry.object_id, entry.action_flag) == (superuser, str(edition.pk), CHANGE)
    assert entry.change_message.startswith("Settled 1 in-doubt deliveries as sent")
    # Settled: the buttons are gone, and a second POST is refused with a message.
    assert "In-doubt deliveries" not in response.content.decode()
    again = move(root_client, edition, "settle_sent").content.decode()
    assert "Nothing to settle" in again


def test_settling_in_doubt_by_sending_again_sends_that_reader_once_through_the_workers(
    root_client: Client, trending, tomorrow, django_capture_on_commit_callbacks
) -> None:
    edition, doubtful = left_in_doubt(tomorrow, trending)
    with django_capture_on_commit_callbacks(execute=True):
        response = move(root_client, edition, "settle_resend")
    assert "Settled 1 in-doubt deliveries by sending them again: 1 chunk(s) queued" in response.content.decode()
    # The eager worker sent the chunk: one message, to the reader in doubt only.
    assert [m.to[0] for m in mail.outbox] == ["doubtful@example.org"]
    doubtful.refresh_from_db()
    edition.refresh_from_db()
    assert doubtful.status == "sent" and doubtful.ambiguous_at is not None
    assert (edition.status, edition.recipient_count) == (Edition.Status.SENT, 2)
    assert LogEntry.objects.latest("pk").change_message.startswith("Settled 1 in-doubt deliveries by sending")


def test_settling_in_doubt_is_refused_while_other_deliveries_are_queued(root_client: Client, trending, tomorrow):
    edition, doubtful = left_in_doubt(tomorrow, trending)
    Delivery.objects.create(edition=edition, subscriber=make_subscriber(), status="queued")
    assert "In-doubt deliveries" not in root_client.get(change_url(edition)).content.decode()
    page = move(root_client, edition, "settle_sent").content.decode()
    assert "still has 1 deliveries queued or being sent" in page
    doubtful.refresh_from_db()
    assert doubtful.status == "ambiguous"


def test_settling_in_doubt_needs_a_post_and_the_permission_to_change_editions(
    root_client: Client, trending, tomorrow
) -> None:
    edition, doubtful = left_in_doubt(tomorrow, trending)
    root_client.get(reverse("admin:digest_edition_move", args=[edition.pk, "settle_sent"]))
    viewer = User.objects.create_user("vera", "vera@example.org", "vera-password", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(content_type__app_label="digest", codename="view_edition"))
    client = Client()
    client.force_login(viewer)
    assert "In-doubt deliveries" not in client.get(change_url(edition)).content.decode()
    for name in ("settle_sent", "settle_resend"):
        assert client.post(reverse("admin:digest_edition_move", args=[edition.pk, name])).status_code == 403
    # A POST without the CSRF token is refused too.
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(User.objects.get(username="root"))
    assert csrf_client.post(reverse("admin:digest_edition_move", args=[edition.pk, "settle_sent"])).status_code == 403
    doubtful.refresh_from_db()
    edition.refresh_from_db()
    assert doubtful.status == "ambiguous" and edition.status == Edition.Status.SENDING
    assert mail.outbox == [] and not LogEntry.objects.exists()
