"""NUL characters in request parameters are refused with a 400 naming the parameter, for every URL.

On PostgreSQL such a value used to reach the driver and end as a 500 (``?frequency__exact=%00`` on a changelist).
"""

from __future__ import annotations

import pytest
from django.test import Client

from subscribers.models import Subscriber
from subscribers.tokens import Purpose, make_token
from tests.subscribers.factories import make_subscriber

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "/admin/digest/edition/?frequency__exact=%00",
    "/admin/subscribers/subscriber/?frequency__exact=%00",
    "/admin/subscribers/suppression/?reason__exact=%00",
    "/admin/subscribers/trackingevent/?event_type__exact=%00",
    "/admin/subscribers/subscriber/export/?status__exact=%00",
    "/admin/subscribers/subscriber/?q=x%00y",
]


@pytest.mark.parametrize("url", CHANGELISTS)
def test_a_nul_in_a_changelist_filter_is_a_400_that_names_the_parameter(admin_client: Client, url: str) -> None:
    response = admin_client.get(url)
    assert response.status_code == 400
    name = url.split("?")[1].split("=")[0]
    text = response.content.decode()
    assert f"query parameter '{name}' contains a NUL character" in text
    assert response["Content-Type"].startswith("text/plain")


def test_public_pages_refuse_a_nul_in_a_parameter_name_or_value(client: Client) -> None:
    assert client.get("/editions/?page=1%002").status_code == 400
    response = client.get("/feed/?a%00b=1")
    assert response.status_code == 400
    assert "'a\\\\x00b'" in response.content.decode()  # the name, with the NUL shown escaped, never raw
    assert client.get("/editions/?page=2").status_code == 200  # everything else is untouched


def test_a_long_parameter_name_is_echoed_only_as_a_prefix(client: Client) -> None:
    response = client.get("/?" + "n" * 5000 + "=%00")
    assert response.status_code == 400
    assert "n" * 40 + "…" in response.content.decode()
    assert len(response.content) < 400


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_a_sign_up_with_a_nul_is_refused_and_stores_nothing(client: Client, encoding: str) -> None:
    data = {"email": "reader@example.org", "keywords": "dif\x00fusion", "frequency": "daily"}
    if encoding == "urlencoded":
        body = "email=reader%40example.org&keywords=dif%00fusion&frequency=daily"
        response = client.post("/subscribe/", body, content_type="application/x-www-form-urlencoded")
    else:
        response = client.post("/subscribe/", data)
    assert response.status_code == 400
    assert "form parameter 'keywords' contains a NUL character" in response.content.decode()
    assert not Subscriber.objects.exists()


def test_a_csrf_exempt_view_keeps_its_multipart_body_for_itself(client: Client) -> None:
    """Webhooks that verify a signature over the raw body must find it unread: the middleware leaves it alone."""
    reader = make_subscriber()
    token = make_token(subscriber_id=reader.pk, token_key=reader.token_key, purpose=Purpose.UNSUBSCRIBE)
    response = client.post(f"/unsubscribe/{token}/", {"List-Unsubscribe": "One-Click", "note": "a\x00b"})
    assert response.status_code == 200
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED


def test_a_cookie_with_a_nul_is_ignored_not_looked_up(client: Client) -> None:
    # The session cookie is looked up in the database: with a NUL in it that was a 500 on PostgreSQL.
    client.cookies["sessionid"] = "abcdefghij\x00klmnop"
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert client.get("/").status_code == 200
