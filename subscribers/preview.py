"""An edition exactly as one recipient's email renders it, for the curator's preview.

It goes through ``edition_body`` and ``edition_message``, the functions the sender uses, and reads the parts back
out of the finished message, so what the preview shows is what the email carries.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from digest.models import Edition
from digest.rendering.body import edition_body
from subscribers.messages import edition_message
from subscribers.models import Subscriber
from subscribers.personal_parts import personal_for_chunk
from subscribers.personalize import NOBODY
from subscribers.services import subscribers_with_email


@dataclass(frozen=True, slots=True)
class PreviewRecipient:
    """A stand-in reader for a staff member who is not on the list: links in its footer lead nowhere."""

    email: str
    keywords: list[str] = field(default_factory=list)
    pk: int = 0
    token_key: str = field(default_factory=lambda: secrets.token_urlsafe(12))


@dataclass(frozen=True, slots=True)
class EditionPreview:
    subject: str
    html: str
    text: str
    to: str
    headers: dict[str, str]


def preview_recipient(*, email: str, keywords: list[str] | None = None) -> Subscriber | PreviewRecipient:
    """The subscriber with this address when there is one (their own links and keywords), else a stand-in.

    ``keywords`` given explicitly override the subscriber's, so a curator can see the keyword section for any set.
    """
    subscriber = subscribers_with_email(email).first() if email else None
    if subscriber is not None:
        if keywords is not None:
            subscriber.keywords = keywords
        return subscriber
    return PreviewRecipient(email=email or "preview@example.invalid", keywords=list(keywords or []))


def edition_preview(*, edition: Edition, recipient: Subscriber | PreviewRecipient) -> EditionPreview:
    """A subscriber's preview carries their own "For you" and "Still trending" lines, as the sender would make them."""
    body = edition_body(edition)
    personal = NOBODY
    if isinstance(recipient, Subscriber):
        personal = personal_for_chunk(edition=edition, body=body, readers=[recipient]).get(recipient.pk, NOBODY)
    message = edition_message(body, recipient, personal=personal)
    html = next((content for content, mimetype in message.alternatives if mimetype == "text/html"), "")
    return EditionPreview(
        subject=message.subject,
        html=html,
        text=message.body,
        to=", ".join(message.to),
        headers=dict(message.extra_headers),
    )
