from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from digest.models import DigestDocument, Paper, Source
from tests.digest.local_http import Route, local_server

pytestmark = pytest.mark.django_db
UPLOAD = reverse("admin:digest_digestdocument_upload")


def seed_files(shared_dir: Path) -> list[Path]:
    return sorted((shared_dir / "seeds").glob("*.txt"))


def test_upload_ingests_several_files_like_the_command(root_client: Client, superuser, shared_dir: Path) -> None:
    files = [SimpleUploadedFile(p.name, p.read_bytes()) for p in seed_files(shared_dir)]
    files.append(SimpleUploadedFile("empty.txt", b""))
    response = root_client.post(UPLOAD, {"files": files, "format": "auto", "listed_date": "2026-03-21"}, follow=True)
    messages = [str(m) for m in response.context["messages"]]
    # The two real seed pages: 32 papers, 37 appearances (issue 2's figures); the empty file fails with a reason.
    assert sum(m.startswith("created") for m in messages) == 2
    assert any(m.startswith("failed") and "empty.txt" in m for m in messages)
    assert Paper.objects.count() == 32
    assert DigestDocument.objects.filter(status="parsed").count() == 2
    assert LogEntry.objects.filter(user=superuser, action_flag=ADDITION).count() == 3

    again = [SimpleUploadedFile(p.name, p.read_bytes()) for p in seed_files(shared_dir)]
    response = root_client.post(UPLOAD, {"files": again, "format": "auto", "listed_date": "2026-03-21"}, follow=True)
    assert all(str(m).startswith("unchanged") for m in response.context["messages"])
    assert DigestDocument.objects.count() == 3


def test_failed_documents_show_their_error_and_can_be_reparsed(root_client: Client, superuser, shared_dir) -> None:
    root_client.post(UPLOAD, {"files": [SimpleUploadedFile("empty.txt", b"")], "format": "auto"})
    path = seed_files(shared_dir)[0]
    root_client.post(UPLOAD, {"files": [SimpleUploadedFile(path.name, path.read_bytes())], "format": "auto"})
    failed = DigestDocument.objects.get(status="failed")
    listing = root_client.get(reverse("admin:digest_digestdocument_changelist"), {"status__exact": "failed"})
    assert [d.pk for d in listing.context["cl"].result_list] == [failed.pk]
    assert failed.error and failed.error[:40] in listing.content.decode()

    parsed = DigestDocument.objects.get(status="parsed")
    count = parsed.paper_count
    response = root_client.post(
        reverse("admin:digest_digestdocument_changelist"),
        {"action": "reparse", "_selected_action": [parsed.pk]},
        follow=True,
    )
    assert any(str(m).startswith("reparsed") for m in response.context["messages"])
    parsed.refresh_from_db()
    assert parsed.paper_count == count
    assert LogEntry.objects.filter(user=superuser, action_flag=CHANGE, change_message="Re-parsed").count() == 1


def test_fetch_now_polls_the_source(root_client: Client, superuser, shared_dir) -> None:
    body = seed_files(shared_dir)[0].read_bytes()
    with local_server({"/papers": Route(body=body, etag='"v1"')}) as server:
        source = Source.objects.create(name="local", url=server.url("/papers"))
        changelist = reverse("admin:digest_source_changelist")
        response = root_client.post(changelist, {"action": "fetch_now", "_selected_action": [source.pk]}, follow=True)
        assert any(str(m).startswith("created") for m in response.context["messages"])
        response = root_client.post(changelist, {"action": "fetch_now", "_selected_action": [source.pk]}, follow=True)
        assert any("not modified" in str(m) for m in response.context["messages"])
    source.refresh_from_db()
    assert source.etag == '"v1"' and DigestDocument.objects.filter(source=source).count() == 1
    assert LogEntry.objects.filter(user=superuser, change_message="Fetched now").count() == 2


def test_curator_may_upload_but_not_fetch(curator_client: Client) -> None:
    assert curator_client.get(UPLOAD).status_code == 200
    source = Source.objects.create(name="s", url="https://example.org/x")
    response = curator_client.get(reverse("admin:digest_source_changelist"))
    assert "fetch_now" not in response.content.decode()
    assert source.pk
