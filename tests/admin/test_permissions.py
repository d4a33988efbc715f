from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from tests.factories import make_edition, make_paper
from tests.subscribers.factories import make_subscriber

pytestmark = pytest.mark.django_db


def test_only_staff_reach_admin(db: None) -> None:
    client = Client()
    client.force_login(User.objects.create_user("reader", "reader@example.org", "x"))
    for url in (
        reverse("admin:index"),
        reverse("admin:digest_paper_changelist"),
        reverse("admin:subscribers_subscriber_export"),
        reverse("admin-dashboard"),
    ):
        response = client.get(url)
        assert response.status_code == 302 and reverse("admin:login") in response.url, url


def test_curator_curates_papers_and_editions(curator_client: Client, curator) -> None:
    paper = make_paper()
    edition = make_edition(date=paper.created_at.date(), papers=[paper])
    assert curator_client.get(reverse("admin:digest_paper_change", args=[paper.pk])).status_code == 200
    curator_client.post(reverse("admin:digest_paper_changelist"), {"action": "hide", "_selected_action": [paper.pk]})
    paper.refresh_from_db()
    assert paper.hidden
    curator_client.post(reverse("admin:digest_edition_move", args=[edition.pk, "approve"]))
    edition.refresh_from_db()
    assert edition.approved_by == curator
    assert curator_client.get(reverse("admin:digest_edition_build")).status_code == 200
    assert curator_client.get(reverse("admin:subscribers_subscriber_changelist")).status_code == 200
    assert curator_client.get(reverse("admin:subscribers_subscriber_import")).status_code == 200


def test_curator_cannot_export_subscribers(curator_client: Client) -> None:
    subscriber = make_subscriber()
    changelist = reverse("admin:subscribers_subscriber_changelist")
    response = curator_client.get(changelist)
    assert "export_csv" not in response.content.decode()
    assert "Export CSV" not in response.content.decode()
    assert curator_client.get(reverse("admin:subscribers_subscriber_export")).status_code == 403
    # Posting the action by hand is refused too: Django drops actions the user lacks permission for.
    response = curator_client.post(changelist, {"action": "export_csv", "_selected_action": [subscriber.pk]})
    assert response.status_code in (200, 302)
    assert not getattr(response, "streaming", False)
    assert subscriber.email.encode() not in b"".join(getattr(response, "streaming_content", [response.content]))


def test_curator_cannot_change_settings_users_or_sources(curator_client: Client) -> None:
    assert curator_client.get(reverse("admin:auth_user_changelist")).status_code == 403
    assert curator_client.get(reverse("admin:auth_group_changelist")).status_code == 403
    assert curator_client.get(reverse("admin:digest_source_add")).status_code == 403
    assert curator_client.get(reverse("admin:digest_source_changelist")).status_code == 200  # may look
    response = curator_client.get(reverse("admin:digest_source_changelist"))
    assert "fetch_now" not in response.content.decode()
    subscriber = make_subscriber()
    assert (
        curator_client.post(
            reverse("admin:subscribers_subscriber_delete", args=[subscriber.pk]), {"post": "yes"}
        ).status_code
        == 403
    )


def test_curator_group_permissions_are_exactly_the_curating_ones(curator) -> None:
    perms = curator.get_all_permissions()
    assert {"digest.change_paper", "digest.change_edition", "subscribers.view_subscriber"} <= perms
    assert "subscribers.export_subscriber" not in perms
    assert not {p for p in perms if p.startswith(("auth.", "admin.", "contenttypes.", "sessions."))}
    assert not {
        p for p in perms if p.startswith("digest.") and p.endswith("_source") and not p.startswith("digest.view")
    }
    assert not {"digest.delete_paper", "digest.delete_edition"} & perms
    assert not {p for p in perms if p.startswith("subscribers.delete")}
