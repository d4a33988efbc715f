"""Anymail backends for benchmarks: pay what handing a message to an ESP costs on our side, then drop it.

Anymail's own test backend keeps every message in ``mail.outbox`` and looks each one's id up with
``list.index()``, which makes a million-message run quadratic and its memory grow without bound. These keep
nothing:

- ``EmailBackend`` (``--esp null``) serialises the full MIME message, which is what Amazon SES's SendRawEmail and
  SMTP are handed;
- ``ApiEmailBackend`` (``--esp test``) does what Anymail's test backend does, building the ESP payload's
  parameters without MIME, which is closer to what an HTTP-API ESP (Postmark, Mailgun, Resend, ...) costs.
"""

from __future__ import annotations

import uuid
from typing import Any

from anymail.backends.base import AnymailBaseBackend
from anymail.backends.test import TestPayload
from anymail.message import AnymailRecipientStatus


class ApiEmailBackend(AnymailBaseBackend):
    esp_name = "Null"

    def build_message_payload(self, message: Any, defaults: dict[str, Any]) -> TestPayload:
        return TestPayload(backend=self, message=message, defaults=defaults)

    def serialise(self, payload: TestPayload, message: Any) -> None:
        payload.get_params()

    def post_to_esp(self, payload: TestPayload, message: Any) -> dict[str, AnymailRecipientStatus]:
        self.serialise(payload, message)
        status = AnymailRecipientStatus(message_id=uuid.uuid4().hex, status="sent")
        return {email: status for email in payload.recipient_emails}

    def parse_recipient_status(
        self, response: dict[str, AnymailRecipientStatus], payload: TestPayload, message: Any
    ) -> dict[str, AnymailRecipientStatus]:
        return response


class EmailBackend(ApiEmailBackend):
    def serialise(self, payload: TestPayload, message: Any) -> None:
        message.message().as_bytes(linesep="\r\n")
