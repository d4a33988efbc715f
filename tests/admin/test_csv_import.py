from __future__ import annotations

import io

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from subscribers import csv_io
from subscribers.models import Subscriber, Suppression
from subscribers.services import email_hash
from tests.admin.csv_rows import generate
from tests.subscribers.factories import make_subscriber

pytestmark = pytest.mark.django_db


def snapshot() -> list[tuple]:
    fields = ["email", "status", "frequency", "keywords", "time_zone", "token_key", "consent_at", "confirmed_at"]
    return list(Subscriber.objects.order_by("email").values_list(*fields))


def test_ten_thousand_rows_with_three_percent_bad(django_capture_on_commit_callbacks) -> None:
    data = generate(10_000)
    assert len(data.bad_lines) == 300
    notified: list[list[int]] = []

    with django_capture_on_commit_callbacks(execute=True):
        report = csv_io.import_subscribers(stream=io.StringIO(data.text), consent_source="test", notify=notified.append)

    assert report.rows == 10_000
    assert {error.line: error.reason for error in report.errors}.keys() == data.bad_lines.keys()
    for error in report.errors:
        assert data.bad_lines[error.line].lower() in error.reason.lower(), error
    assert Subscriber.objects.count() == data.good == 9_700
    assert len(report.created_active) == data.good_active
    assert Subscriber.objects.filter(status="active").count() == data.good_active
    # Rows without a consent date are pending and get a confirmation, queued once for the whole import.
    pending = set(Subscriber.objects.filter(status="pending").values_list("pk", flat=True))
    assert notified == [report.created_pending] and set(report.created_pending) == pending
    assert Subscriber.objects.filter(email="person10@example.org", keywords=[], frequency="weekly").exists()
    assert Subscriber.objects.get(email="person21@example.org").time_zone == "Europe/Paris"
    active = Subscriber.objects.get(email="person0@example.org")
    assert (active.consent_source, active.consent_text) == ("old newsletter tool", "Send me the daily trending papers.")
    assert active.keywords == ["diffusion", "agents"]

    before = snapshot()
    notified.clear()
    with django_capture_on_commit_callbacks(execute=True):
        again = csv_io.import_subscribers(stream=io.StringIO(data.text), consent_source="test", notify=notified.append)
    assert (again.created, again.existing, len(again.errors)) == ([], 9_700, 300)
    assert notified == []
    assert snapshot() == before


def test_existing_and_suppressed_addresses_are_left_alone() -> None:
    make_subscriber(email="left@example.org", status="unsubscribed")
    Suppression.objects.create(email_hash=email_hash("bounced@example.org"), reason="bounced")
    Suppression.objects.create(email_hash=email_hash("erased@example.org"), reason="deleted")
    text = (
        "email,consent_at,consent_text\n"
        "LEFT@example.org,,\n"
        "bounced@example.org,,\n"
        "erased@example.org,2026-01-01,I agreed\n"  # an old consent does not outlive an erasure request
        "new@example.org,,\n"
    )
    report = csv_io.import_subscribers(stream=io.StringIO(text), consent_source="test", notify=lambda ids: None)
    assert (report.existing, report.suppressed, len(report.created_pending)) == (1, 2, 1)
    assert Subscriber.objects.get(email="left@example.org").status == "unsubscribed"
    assert set(Subscriber.objects.values_list("email", flat=True)) == {"left@example.org", "new@example.org"}


def test_a_file_without_an_email_column_imports_nothing() -> None:
    with pytest.raises(csv_io.ImportFileError):
        csv_io.import_subscribers(stream=io.StringIO("name\nAda\n"), consent_source="test")
    assert not Subscriber.objects.exists()


def test_consent_date_without_consent_text_is_rejected() -> None:
    text = "email,consent_at\nx@example.org,2026-01-01\n"
    report = csv_io.import_subscribers(stream=io.StringIO(text), consent_source="test", notify=lambda ids: None)
    assert "consent_text" in report.errors[0].reason
    # The form's default consent text makes the same row acceptable.
    report = csv_io.import_subscribers(
        stream=io.StringIO(text), consent_source="test", consent_text="Agreed on paper", notify=lambda ids: None
    )
    assert Subscriber.objects.get().status == "active"


def test_export_round_trips_and_defuses_formulas() -> None:
    make_subscriber(
        email="a@example.org", keywords=["=HYPERLINK(1)", "agents"], consent_source="form", consent_text="ok"
    )
    make_subscriber(email="b@example.org", status="pending", confirmed_at=None)
    exported = csv_io.export_csv(queryset=Subscriber.objects.all())
    assert "'=HYPERLINK(1); agents" in exported
    Subscriber.objects.all().delete()
    # Neither has a consent date (make_subscriber sets none), so both come back pending, keywords intact.
    report = csv_io.import_subscribers(
        stream=io.StringIO(exported), consent_source="re-import", notify=lambda ids: None
    )
    assert report.errors == []
    assert Subscriber.objects.get(email="a@example.org").keywords == ["=HYPERLINK(1)", "agents"]
    assert set(Subscriber.objects.values_list("email", flat=True)) == {"a@example.org", "b@example.org"}


def test_admin_import_sends_confirmations_and_logs_each_addition(
    root_client: Client, superuser, django_capture_on_commit_callbacks
) -> None:
    upload = SimpleUploadedFile(
        "list.csv", b"\xef\xbb\xbfemail,keywords\nada@example.org,robots\nbad-address,\nbob@example.org,\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = root_client.post(reverse("admin:subscribers_subscriber_import"), {"file": upload})
    assert response.status_code == 200
    content = response.content.decode()
    assert "2 added as pending" in content and "1 rejected" in content and "bad-address" in content
    assert sorted(m.to[0] for m in mail.outbox) == ["ada@example.org", "bob@example.org"]
    assert all(Subscriber.objects.filter(status="pending").values_list("consent_source", flat=True))
    logged = LogEntry.objects.filter(user=superuser, action_flag=ADDITION, change_message="Imported from CSV")
    assert logged.count() == 2


def test_admin_import_reports_a_file_that_is_not_utf8(root_client: Client) -> None:
    upload = SimpleUploadedFile("list.csv", b"email\n\xff\xfe\x00bad\n")
    response = root_client.post(reverse("admin:subscribers_subscriber_import"), {"file": upload})
    assert "Nothing imported" in response.content.decode()
    assert not Subscriber.objects.exists()
