"""No 500 from outside input on the webhook URLs (issue 13): only the configured ESP's are mounted, bad bodies and
failed authentication are 4xx, and each refusal is one WARNING line without a traceback, at most one per client a
minute."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from anymail import urls as anymail_urls

from config.esp import ESPS
from tests.subscribers.inbound_payloads import ESPS as INBOUND_ESPS
from tests.subscribers.webhook_support import basic_auth

# What each ESP's views need to be set up at all (their signing secrets); the inbound tests' settings plus these.
WEBHOOK_SETTINGS: dict[str, dict[str, str]] = {
    **{name: esp.settings for name, esp in INBOUND_ESPS.items()},
    "mailersend": {"MAILERSEND_SIGNING_SECRET": "s", "MAILERSEND_INBOUND_SECRET": "s"},
    "unisender_go": {"UNISENDER_GO_API_KEY": "k"},
}
# Bodies no webhook can parse: a 400 with or without valid credentials.
UNPARSABLE: list[tuple[str, bytes | str]] = [
    ("application/json", ""),
    ("application/json", "{"),
    ("application/json", b"\xff\xfe"),
]
# Parsable but not what the webhook expects: each ESP's view may refuse (400) or accept and ignore (200); never 5xx.
ODD: list[tuple[str, bytes | str]] = [
    ("application/json", "null"),
    ("application/json", "[1, 2]"),
    ("application/json", '{"type": "email.bounced", "event": "x"}'),
    ("application/json", '{"items": [{"Headers": 7}], "msys": {}, "RecordType": []}'),
    ("text/plain; charset=utf-8", "Type=Notification"),
    ("application/x-www-form-urlencoded", "mandrill_events=%5B%7B%7D&event=inbound"),
    ("application/x-www-form-urlencoded", "mandrill_events=%5B%7B%22event%22%3A%22inbound%22%7D%2C%7B%7D%5D"),
]


def anymail_routes() -> list[tuple[str, str]]:
    """(esp, path) for every webhook URL Anymail itself defines, whatever ESP it belongs to."""
    routes = []
    for pattern in anymail_urls.urlpatterns:
        route = str(pattern.pattern).lstrip("^").rstrip("$")
        paths = [route.replace("(_mime)?", ""), route.replace("(_mime)?", "_mime")] if "(" in route else [route]
        routes.extend((route.split("/", 1)[0], f"/anymail/{path}") for path in paths)
    return routes


def serious(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("configured", ["amazon_ses", "postmark", "mailgun", ""])
def test_only_the_configured_esps_urls_are_mounted(client, db, mount_esp, configured: str, caplog) -> None:
    mount_esp(configured, **WEBHOOK_SETTINGS.get(configured, {}))
    routes = anymail_routes()
    assert len(routes) > 20
    for esp, path in routes:
        response = client.post(path, data="{}", content_type="application/json")
        if esp == configured:
            assert response.status_code in (400, 401), (path, response.status_code)
        else:
            assert response.status_code == 404, (path, response.status_code)
    assert [r for r in caplog.records if r.exc_info] == []


@pytest.mark.parametrize("esp", sorted(ESPS))
def test_bad_bodies_are_never_a_5xx_and_unparsable_ones_a_400(client, db, mount_esp, esp: str, caplog) -> None:
    mount_esp(esp, **WEBHOOK_SETTINGS.get(esp, {}))
    paths = [path for owner, path in anymail_routes() if owner == esp]
    requests = 0
    for path in paths:
        for bodies, accepted in ((UNPARSABLE, {400}), (ODD, {200, *range(400, 500)})):
            for content_type, body in bodies:
                for auth in (basic_auth(), {}):
                    headers: dict[str, Any] = {**auth, "HTTP_X_AMZ_SNS_MESSAGE_TYPE": "Notification"}
                    response = client.post(path, data=body, content_type=content_type, **headers)
                    requests += 1
                    status = response.status_code
                    assert status in accepted or (not auth and status == 401), (path, body, bool(auth), status)
    assert requests == len(paths) * (len(UNPARSABLE) + len(ODD)) * 2
    assert [r for r in caplog.records if r.exc_info] == []
    # Every refusal came from this one client within a minute: one line at most (none for SNS's 401 challenge).
    assert len(serious(caplog)) <= 1


def test_failed_authentication_is_one_warning_line_per_client_a_minute(client, db, mount_esp, caplog) -> None:
    mount_esp("postmark")
    for _ in range(5):
        response = client.post("/anymail/postmark/tracking/", data="{}", content_type="application/json")
        assert response.status_code == 400
    lines = serious(caplog)
    assert len(lines) == 1
    line = lines[0]
    assert (line.name, line.levelno, line.exc_info) == ("subscribers.webhooks.guard", logging.WARNING, None)
    assert "/anymail/postmark/tracking/ refused (authentication failed) from 127.0.0.1" in line.getMessage()
    # Django's own "Bad Request" line for each of the five is dropped (config.logs.WebhookRefusalFilter).
    assert not [r for r in caplog.records if r.name == "django.request"]
    # Another client gets its own line.
    client.post("/anymail/postmark/tracking/", data="{}", content_type="application/json", REMOTE_ADDR="127.0.0.2")
    assert [r.getMessage().rsplit(" from ", 1)[1][:9] for r in serious(caplog)] == ["127.0.0.1", "127.0.0.2"]


def test_the_log_line_is_short_and_never_carries_the_body(client, db, mount_esp, caplog) -> None:
    mount_esp("postmark")
    body = "{" + "x" * 10_000 + "\nFORGED LOG LINE"
    assert client.post("/anymail/postmark/inbound/", data=body, content_type="application/json", **basic_auth())
    (line,) = serious(caplog)
    assert "\n" not in line.getMessage() and "FORGED" not in line.getMessage()
    assert len(line.getMessage()) < 400


def test_a_webhook_whose_secret_is_not_configured_answers_404_and_says_which(client, db, mount_esp, caplog) -> None:
    mount_esp("mailersend", MAILERSEND_SIGNING_SECRET="s")  # the inbound route's secret is missing
    response = client.post("/anymail/mailersend/inbound/", data="{}", content_type="application/json", **basic_auth())
    assert response.status_code == 404
    (line,) = serious(caplog)
    assert "MAILERSEND_INBOUND_SECRET" in line.getMessage() and line.exc_info is None
    # The tracking webhook, whose secret is set, is there.
    assert client.post("/anymail/mailersend/tracking/", data="{}", content_type="application/json").status_code == 400


def test_a_payload_for_the_other_webhook_is_a_400_not_a_500(client, db, mount_esp) -> None:
    mount_esp("postmark")
    tracking_event = '{"RecordType": "Bounce", "ID": 1, "Type": "HardBounce", "Email": "a@example.org"}'
    response = client.post(
        "/anymail/postmark/inbound/", data=tracking_event, content_type="application/json", **basic_auth()
    )
    assert response.status_code == 400
