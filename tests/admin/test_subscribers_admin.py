from __future__ import annotations

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.core import mail
from django.test import Client
from django.urls import reverse

from subscribers.models import Subscriber, Suppression
from subscribers.services import email_hash
from tests.subscribers.factories import make_subscriber

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:subscribers_subscriber_changelist")


def emails(response) -> set[str]:
    return {s.email for s in response.context["cl"].result_list}


def test_search_and_filters_by_status_frequency_and_keyword(root_client: Client) -> None:
    make_subscriber(email="ada@example.org", keywords=["Diffusion models", "agents"])
    make_subscriber(email="bob@example.org", status="pending", frequency="weekly", keywords=["robotics"])
    make_subscriber(email="cyd@example.org", status="unsubscribed", keywords=['Café "quotes"'])

    assert emails(root_client.get(CHANGELIST, {"q": "bob@"})) == {"bob@example.org"}
    assert emails(root_client.get(CHANGELIST, {"status__exact": "pending"})) == {"bob@example.org"}
    assert emails(root_client.get(CHANGELIST, {"frequency__exact": "weekly"})) == {"bob@example.org"}
    assert emails(root_client.get(CHANGELIST, {"keyword": "diffusion"})) == {"ada@example.org"}
    assert emails(root_client.get(CHANGELIST, {"keyword": 'café "quo'})) == {"cyd@example.org"}
    assert emails(root_client.get(CHANGELIST, {"keyword": "robot", "status__exact": "active"})) == set()


def test_bulk_unsubscribe_goes_through_the_service_and_is_logged(root_client: Client, superuser) -> None:
    a, b = make_subscriber(), make_subscriber(status="bounced")
    root_client.post(CHANGELIST, {"action": "unsubscribe", "_selected_action": [a.pk, b.pk]})
    a.refresh_from_db(), b.refresh_from_db()
    assert (a.status, a.unsubscribed_via, b.status) == ("unsubscribed", "admin", "bounced")
    assert list(LogEntry.objects.filter(user=superuser, action_flag=CHANGE).values_list("object_id", flat=True)) == [
        str(a.pk)
    ]


def test_resend_confirmation_only_to_pending_and_once_an_hour(
    root_client: Client, django_capture_on_commit_callbacks
) -> None:
    pending = make_subscriber(status="pending", confirmed_at=None)
    active = make_subscriber()
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            response = root_client.post(
                CHANGELIST, {"action": "resend_confirmation", "_selected_action": [pending.pk, active.pk]}, follow=True
            )
    assert [m.to for m in mail.outbox] == [[pending.email]]
    assert "Confirmation queued for 0 subscriber(s); 2 skipped" in response.content.decode()


def test_export_streams_the_filtered_list_for_those_allowed(root_client: Client) -> None:
    make_subscriber(email="ada@example.org")
    make_subscriber(email="bob@example.org", status="pending")
    response = root_client.get(reverse("admin:subscribers_subscriber_export"), {"status__exact": "pending"})
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0].startswith("email,status,frequency")
    assert "bob@example.org" in body and "ada@example.org" not in body
    action = root_client.post(
        CHANGELIST, {"action": "export_csv", "_selected_action": [s.pk for s in Subscriber.objects.all()]}
    )
    assert b"ada@example.org" in b"".join(action.streaming_content)


def test_suppression_added_by_address_is_stored_hashed_and_moves_the_subscriber(root_client: Client) -> None:
    subscriber = make_subscriber(email="spam-trap@example.org")
    response = root_client.post(
        reverse("admin:subscribers_suppression_add"), {"email": " Spam-Trap@Example.org ", "reason": "manual"}
    )
    assert response.status_code == 302
    assert Suppression.objects.get().email_hash == email_hash("spam-trap@example.org")
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed"
    found = root_client.get(reverse("admin:subscribers_suppression_changelist"), {"q": "spam-trap@example.org"})
    assert len(found.context["cl"].result_list) == 1


def test_deleting_a_subscriber_keeps_a_suppression(root_client: Client) -> None:
    subscriber = make_subscriber(email="gone@example.org")
    root_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [subscriber.pk], "post": "yes"})
    assert not Subscriber.objects.exists()
    assert Suppression.objects.filter(email_hash=email_hash("gone@example.org"), reason="deleted").exists()


def test_the_admin_names_the_delivery_list_in_plain_english(root_client: Client) -> None:
    page = root_client.get(reverse("admin:index")).content.decode()
    assert ">Deliveries<" in page and "Deliverys" not in page
