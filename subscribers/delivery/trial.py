""" "Send a test to me": the edition as a subscriber gets it, through the configured backend, to one address only.

It uses the sender's own parts (``body_for`` + ``edition_message`` + the ESP connection), so the test shows the
real email, but it records no Delivery and touches no subscriber: a test is not a send.
"""

from __future__ import annotations

from django.core.mail import get_connection

from digest.models import Edition
from subscribers.delivery.body import body_for
from subscribers.messages import edition_message
from subscribers.preview import preview_recipient

TEST_SUBJECT_PREFIX = "[Test] "


def edition_send_trial(*, edition: Edition, email: str, keywords: list[str] | None = None) -> str:
    """Send ``edition`` to ``email`` alone; returns the ESP's message id."""
    recipient = preview_recipient(email=email, keywords=keywords)
    with get_connection() as connection:
        message = edition_message(body_for(edition), recipient, connection=connection)
        # Whatever the recipient stand-in holds, this message goes to the one address asked for, nobody else.
        message.to, message.cc, message.bcc = [email], [], []
        message.subject = TEST_SUBJECT_PREFIX + message.subject
        message.tags = [*(message.tags or []), "test"]
        message.metadata = {**(message.metadata or {}), "test": "1"}
        message.send()
    status = message.anymail_status
    return status.message_id if status and status.message_id else ""
