from __future__ import annotations

import email
from pathlib import Path

from anymail.message import AnymailMessage
from django.core.mail import get_connection

from tests.support.services import MotoSES


def test_outbox_backend_writes_one_openable_eml_per_message(tmp_path: Path) -> None:
    connection = get_connection("config.mail.OutboxBackend", file_path=str(tmp_path))
    message = AnymailMessage(subject="Hello", body="plain part", to=["reader@example.org"], connection=connection)
    message.attach_alternative("<p>html part</p>", "text/html")
    message.tags = ["edition"]
    message.metadata = {"edition": 3}
    assert message.send() == 1

    files = list(tmp_path.glob("*.eml"))
    assert len(files) == 1
    parsed = email.message_from_bytes(files[0].read_bytes())
    assert parsed["To"] == "reader@example.org"
    assert parsed["X-Anymail-Tags"] == "edition"
    assert parsed["X-Anymail-Metadata"] == '{"edition": 3}'
    assert message.anymail_status.message_id == files[0].stem
    assert [part.get_content_type() for part in parsed.walk()][1:] == ["text/plain", "text/html"]


def test_anymail_amazon_ses_reaches_the_moto_server(ses: MotoSES) -> None:
    message = AnymailMessage(subject="Through SES", body="plain", to=["reader@example.org"])
    message.attach_alternative("<p>html</p>", "text/html")
    message.send()

    received = ses.messages()
    assert len(received) == 1
    assert received[0]["Subject"] == "Through SES"
    assert received[0]["To"] == "reader@example.org"
    # SES accepts for delivery; Anymail reports that as "queued" with the ESP message id.
    assert message.anymail_status.status == {"queued"}
    assert message.anymail_status.message_id
