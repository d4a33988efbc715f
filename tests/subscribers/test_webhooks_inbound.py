"""Unsubscribe by mail: the List-Unsubscribe mailto address, received through each ESP's inbound webhook.

Per ESP the service documents (README, "Unsubscribe by mail"), through the real URL that ESP's inbound route posts to:
a mail whose subject carries the reader's genuine token unsubscribes them (``unsubscribed_via`` = mailto); a
tampered token, or a post without the webhook's authentication, changes nothing.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote

import pytest

from subscribers.links import list_unsubscribe_headers
from subscribers.models import Subscriber
from subscribers.tokens import Purpose, make_token
from subscribers.webhooks.inbound import Outcome, mailto_unsubscribe
from tests.subscribers.factories import make_subscriber
from tests.subscribers.inbound_payloads import ESPS, READER, Esp, InboundPost, unsubscribe_mail
from tests.subscribers.webhook_support import SnsSigner


def mailto_subject(subscriber: Subscriber) -> str:
    """The subject a mail client puts in the mail from the List-Unsubscribe mailto link, decoded as clients do."""
    header = list_unsubscribe_headers(subscriber)["List-Unsubscribe"]
    mailto = header.split("<mailto:", 1)[1].rstrip(">")
    return unquote(mailto.split("?subject=", 1)[1])


def tampered(subject: str) -> str:
    last = subject[-1]
    return subject[:-1] + ("A" if last != "A" else "B")


def post(client, esp: Esp, mime: str, *, authenticated: bool, signer: SnsSigner | None) -> Any:
    request: InboundPost = esp.build(mime, authenticated, signer) if esp.needs_sns else esp.build(mime, authenticated)
    kwargs: dict[str, Any] = dict(request.headers)
    if request.content_type is not None:
        kwargs["content_type"] = request.content_type
    return client.post(request.url, data=request.body, **kwargs)


@pytest.fixture(params=sorted(ESPS))
def esp(request, mount_esp, settings) -> Esp:
    esp = ESPS[request.param]
    mount_esp(esp.name, **esp.settings)
    return esp


@pytest.fixture
def signer(request, esp: Esp) -> SnsSigner | None:
    return request.getfixturevalue("sns_signer") if esp.needs_sns else None


@pytest.fixture
def reader(db) -> Subscriber:
    return make_subscriber(email=READER)


def status(subscriber: Subscriber) -> tuple[str, str]:
    subscriber.refresh_from_db()
    return subscriber.status, subscriber.unsubscribed_via


def test_a_genuine_token_unsubscribes(client, esp: Esp, signer, reader: Subscriber, caplog) -> None:
    caplog.set_level(logging.INFO, logger="subscribers.webhooks.inbound")
    mime = unsubscribe_mail(mailto_subject(reader))
    response = post(client, esp, mime, authenticated=True, signer=signer)
    assert response.status_code == 200, response.content
    assert status(reader) == (Subscriber.Status.UNSUBSCRIBED, "mailto")
    assert any("unsubscribed" in r.getMessage() for r in caplog.records if r.name == "subscribers.webhooks.inbound")


def test_a_tampered_token_changes_nothing(client, esp: Esp, signer, reader: Subscriber) -> None:
    mime = unsubscribe_mail(tampered(mailto_subject(reader)))
    response = post(client, esp, mime, authenticated=True, signer=signer)
    assert response.status_code == 200  # accepted and dropped, so the ESP does not retry it
    assert status(reader) == (Subscriber.Status.ACTIVE, "")


def test_an_unauthenticated_post_changes_nothing(client, esp: Esp, signer, reader: Subscriber, caplog) -> None:
    mime = unsubscribe_mail(mailto_subject(reader))
    response = post(client, esp, mime, authenticated=False, signer=signer)
    assert 400 <= response.status_code < 500
    assert status(reader) == (Subscriber.Status.ACTIVE, "")
    assert [r for r in caplog.records if r.exc_info] == []


# --- The rule itself, without an ESP ---------------------------------------------------------------------------


def test_a_reply_subject_and_surrounding_text_still_carry_the_token(reader: Subscriber) -> None:
    subject = mailto_subject(reader)
    assert mailto_unsubscribe(subject=f"Re: Fwd: {subject} (sent from my phone)") == Outcome.UNSUBSCRIBED
    assert status(reader) == (Subscriber.Status.UNSUBSCRIBED, "mailto")
    assert mailto_unsubscribe(subject=subject) == Outcome.ALREADY


@pytest.mark.parametrize("subject", ["", "unsubscribe", "please unsubscribe me", "unsubscribe 12.abc:def"])
def test_mail_without_a_token_is_dropped(reader: Subscriber, subject: str) -> None:
    assert mailto_unsubscribe(subject=subject) == Outcome.NO_TOKEN
    assert status(reader) == (Subscriber.Status.ACTIVE, "")


def test_tokens_for_other_purposes_or_rotated_keys_are_refused(reader: Subscriber) -> None:
    preferences = make_token(subscriber_id=reader.pk, token_key=reader.token_key, purpose=Purpose.PREFERENCES)
    assert mailto_unsubscribe(subject=f"unsubscribe {preferences}") == Outcome.BAD_TOKEN
    old = make_token(subscriber_id=reader.pk, token_key="rotated-away", purpose=Purpose.UNSUBSCRIBE)
    assert mailto_unsubscribe(subject=f"unsubscribe {old}") == Outcome.BAD_TOKEN
    assert status(reader) == (Subscriber.Status.ACTIVE, "")


def test_a_token_for_an_erased_reader_changes_nothing(reader: Subscriber) -> None:
    token = make_token(subscriber_id=reader.pk + 1000, token_key=reader.token_key, purpose=Purpose.UNSUBSCRIBE)
    assert mailto_unsubscribe(subject=f"unsubscribe {token}") == Outcome.GONE
    assert status(reader) == (Subscriber.Status.ACTIVE, "")
