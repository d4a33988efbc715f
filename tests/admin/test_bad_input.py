"""Bad filter values, ids and dates in admin get the list back with a message saying what was refused, never a 500.

Each case here was a 500 before config.admin_base: the list is shown without the parameters and the message
quotes the reason; nothing is changed by a refused action.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.messages import get_messages
from django.test import Client, RequestFactory
from django.utils import timezone

from config.admin_base import GuardedModelAdmin
from config.dates import EARLIEST, RangedDateField
from digest.models import DigestDocument, Edition, Source
from subscribers.models import Subscriber
from tests.factories import make_document, make_edition
from tests.subscribers.factories import make_subscriber

pytestmark = pytest.mark.django_db


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_every_registered_model_admin_is_guarded() -> None:
    """A ModelAdmin added later without the base would bring the 500s back: this fails until it uses it."""
    unguarded = [
        f"{model._meta.label}: {type(model_admin).__name__}"
        for model, model_admin in admin.site._registry.items()
        if not isinstance(model_admin, GuardedModelAdmin)
    ]
    assert unguarded == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        # date_hierarchy: Django computes "the next year" (10000) or "the next month" (10000-01) and overflows.
        ("/admin/digest/edition/?date__year=9999", "year 10000 is out of range"),
        ("/admin/digest/edition/?date__year=9999&date__month=12", "date value out of range"),
        # A text compared with a binary column.
        ("/admin/digest/digestdocument/?raw__gte=abc", "bytes"),
    ],
)
def test_a_filter_that_fails_comes_back_without_filters_and_says_why(root_client: Client, url: str, reason) -> None:
    make_edition(date=timezone.localdate())
    make_document(listed_date=timezone.localdate())
    response = root_client.get(url)
    assert response.status_code == 302
    assert response["Location"] == url.split("?")[0]
    (message,) = _messages(response)
    assert "could not be shown with these filters or search" in message and reason in message
    assert root_client.get(response["Location"]).status_code == 200


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("status__regex=(", "not a regular expression"),
        ("email__iregex=a[", "not a regular expression"),
        ("email__range=ab", "a range cannot be given in a URL"),
    ],
)
def test_lookups_that_fail_inside_the_database_are_refused_by_name(root_client: Client, query: str, reason) -> None:
    make_subscriber(email="ab@example.org")
    response = root_client.get(f"/admin/subscribers/subscriber/?{query}")
    assert response.status_code == 302 and response["Location"].endswith("?e=1")  # Django's own "bad filter" path
    (message,) = _messages(response)
    assert reason in message


def test_a_valid_regex_still_filters(root_client: Client) -> None:
    make_subscriber(email="keep@example.org")
    make_subscriber(email="drop@example.org")
    response = root_client.get("/admin/subscribers/subscriber/?email__regex=^kee")
    assert response.status_code == 200
    assert [s.email for s in response.context["cl"].result_list] == ["keep@example.org"]


def test_export_with_a_filter_that_fails_redirects_to_the_list_not_to_a_full_export(root_client: Client) -> None:
    make_subscriber()
    response = root_client.get("/admin/subscribers/subscriber/export/?created_at__year=99999999999999999999")
    assert response.status_code == 302
    assert response["Location"] == "/admin/subscribers/subscriber/"
    assert any("could not be shown" in m for m in _messages(response))


def test_an_export_with_good_filters_still_streams(root_client: Client) -> None:
    make_subscriber(email="one@example.org", frequency="weekly")
    make_subscriber(email="two@example.org")
    response = root_client.get("/admin/subscribers/subscriber/export/?frequency__exact=weekly")
    body = b"".join(response.streaming_content).decode()
    assert "one@example.org" in body and "two@example.org" not in body


@pytest.mark.parametrize("selected", [["abc"], ["1", "abc"], ["99999999999999999999999"], ["-0x1"]])
def test_an_action_with_a_non_numeric_or_impossible_id_changes_nothing(root_client: Client, selected) -> None:
    people = [make_subscriber() for _ in range(2)]
    body = {"action": "delete_selected", "_selected_action": [*selected, str(people[0].pk)], "index": "0"}
    response = root_client.post("/admin/subscribers/subscriber/", body)
    assert response.status_code == 302
    message = _messages(response)[0]
    assert message.startswith("Nothing was changed:") and "is not the id of any subscriber" in message
    assert Subscriber.objects.count() == 2


def test_an_action_with_real_ids_still_runs(root_client: Client) -> None:
    people = [make_subscriber() for _ in range(2)]
    body = {"action": "unsubscribe", "_selected_action": [str(people[0].pk)], "index": "0"}
    root_client.post("/admin/subscribers/subscriber/", body)
    assert [s.status for s in Subscriber.objects.order_by("pk")] == [Subscriber.Status.UNSUBSCRIBED, "active"]


def test_a_list_that_fails_without_any_parameter_is_still_a_server_error(superuser) -> None:
    """Only the visitor's parameters are blamed: a fault in the list itself must stay visible as a 500."""

    class Broken(GuardedModelAdmin):
        def get_queryset(self, request):
            raise ValueError("a real bug")

    request = RequestFactory().get("/admin/digest/source/")
    request.user = superuser
    with pytest.raises(ValueError, match="a real bug"):
        Broken(Source, admin.site).changelist_view(request)


def test_building_an_edition_for_year_one_is_a_form_error_with_the_range(root_client: Client) -> None:
    response = root_client.post("/admin/digest/edition/build/", {"date": "0001-01-01", "frequency": "daily"})
    assert response.status_code == 200
    latest = timezone.localdate() + timedelta(days=366)
    assert f"0001-01-01 is out of range: choose a date from 1991-01-01 to {latest.isoformat()}." in (
        response.content.decode()
    )
    assert not Edition.objects.exists()


def test_an_upload_with_a_listed_date_out_of_range_stores_nothing(root_client: Client) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("day.txt", b"Mar 14\n\nA title\n\nAn abstract.\n")
    response = root_client.post(
        "/admin/digest/digestdocument/upload/", {"files": [upload], "format": "auto", "listed_date": "2999-03-14"}
    )
    assert response.status_code == 200
    assert "2999-03-14 is out of range" in response.content.decode()
    assert not DigestDocument.objects.exists()


def test_every_editable_date_in_an_admin_form_is_range_checked(superuser) -> None:
    request = RequestFactory().get("/")
    request.user = superuser
    form_class = GuardedModelAdmin(Edition, admin.site).get_form(request)
    field = form_class.base_fields["date"]
    assert isinstance(field, RangedDateField)
    form = form_class(data={"date": (EARLIEST - timedelta(days=1)).isoformat(), "frequency": "daily"})
    assert not form.is_valid()
    assert "is out of range" in form.errors["date"][0]
    assert field.clean(EARLIEST.isoformat()) == EARLIEST == date(1991, 1, 1)


def test_lookup_allowed_refuses_before_any_query(superuser) -> None:
    guarded = GuardedModelAdmin(Subscriber, admin.site)
    request = RequestFactory().get("/")
    with pytest.raises(IncorrectLookupParameters):
        guarded.lookup_allowed("email__regex", "(", request)
    assert guarded.lookup_allowed("email__regex", "^a", request)
