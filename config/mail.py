"""The embedded outbox: an Anymail backend that writes one ``.eml`` file per message.

It goes through Anymail like a real ESP does, so the code that sends reads ``message.anymail_status`` the same way
in every configuration, and a person can open ``var/outbox/*.eml`` to see what would have been sent. Tags and
metadata are written as ``X-Anymail-*`` headers so they can be checked by eye too.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from anymail.backends.base import AnymailBaseBackend
from anymail.backends.test import TestPayload
from anymail.message import AnymailRecipientStatus
from django.conf import settings
from django.utils import timezone


class OutboxBackend(AnymailBaseBackend):
    esp_name = "Outbox"

    def __init__(self, *, file_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.directory = Path(file_path or settings.EMAIL_FILE_PATH)

    def build_message_payload(self, message: Any, defaults: dict[str, Any]) -> TestPayload:
        return TestPayload(backend=self, message=message, defaults=defaults)

    def post_to_esp(self, payload: TestPayload, message: Any) -> dict[str, Any]:
        params = payload.get_params()
        mime = message.message()
        if params.get("tags"):
            mime["X-Anymail-Tags"] = ", ".join(params["tags"])
        if params.get("metadata"):
            mime["X-Anymail-Metadata"] = json.dumps(params["metadata"], sort_keys=True)
        self.directory.mkdir(parents=True, exist_ok=True)
        message_id = f"{timezone.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:12]}"
        # Write then rename, so a reader never sees half a message.
        tmp = self.directory / f".{message_id}.tmp"
        tmp.write_bytes(mime.as_bytes(linesep="\r\n"))
        os.replace(tmp, self.directory / f"{message_id}.eml")
        status = AnymailRecipientStatus(message_id=message_id, status="sent")
        return {email: status for email in payload.recipient_emails}

    def parse_recipient_status(
        self, response: dict[str, AnymailRecipientStatus], payload: TestPayload, message: Any
    ) -> dict[str, AnymailRecipientStatus]:
        return response
