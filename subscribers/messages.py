"""The edition for one reader: the shared body (``digest.rendering``) with this reader's slots filled.

The body is rendered once per edition; here each recipient only gets their keyword section (cached per keyword set
on the body) and their own footer links pasted into its slots, and their click token into the tracked paper links:
no query and no template rendering per recipient.
"""

from __future__ import annotations

from typing import Any, Protocol

from anymail.message import AnymailMessage

from digest.rendering.body import EditionBody
from digest.rendering.keywords import keyword_section
from subscribers.clicks.tokens import make_click_token
from subscribers.emails import RenderedEmail, build_message
from subscribers.headers import edition_headers
from subscribers.links import subscribed_links
from subscribers.personal_parts import fill_personal, parts_for
from subscribers.personalize import NOBODY, Personal
from subscribers.tokens import FeedbackSigner


class Recipient(Protocol):
    """A subscriber, or the preview's stand-in for a staff member who is not on the list (read here, never set)."""

    @property
    def pk(self) -> int: ...
    @property
    def email(self) -> str: ...
    @property
    def keywords(self) -> list[str]: ...
    @property
    def token_key(self) -> str: ...


def edition_message(
    body: EditionBody, subscriber: Recipient, *, personal: Personal = NOBODY, connection: Any = None
) -> AnymailMessage:
    """The edition for one subscriber, ready to send: no query and no template rendering here.

    ``personal`` (from ``subscribers.personalize.chunk_personal``) brings their "For you" picks and the papers they
    already received; every paper carries their own "More like this" / "Less like this" links either way.
    """
    own = subscribed_links(subscriber)  # one signature per purpose, the URL paths reversed once per process
    links = {"preferences_url": own.preferences_url, "unsubscribe_url": own.unsubscribe_url}
    keywords_html, keywords_text = keyword_section(body, subscriber.keywords)
    signer = FeedbackSigner(subscriber_id=subscriber.pk, token_key=subscriber.token_key)
    personal_html, personal_text = fill_personal(parts_for(body), signer=signer, personal=personal)
    # Every other slot (the preheader) as the body's defaults: the same for every reader.
    html_values = {
        **body.html_defaults,
        **personal_html,
        "keywords": keywords_html,
        "footer": body.footer_html.fill(links),
    }
    text_values = {
        **body.text_defaults,
        **personal_text,
        "keywords": keywords_text,
        "footer": body.footer_text.fill(links),
    }
    html_doc, text_doc = body.html.fill(html_values), body.text.fill(text_values)
    if body.recipient_mark:
        # Tracked paper links (subscribers.clicks.emailed): this reader's click token in every one of them.
        token = make_click_token(subscriber_id=subscriber.pk, edition_id=body.edition_id)
        html_doc, text_doc = html_doc.replace(body.recipient_mark, token), text_doc.replace(body.recipient_mark, token)
    rendered = RenderedEmail(subject=body.subject, text=text_doc, html=html_doc)
    return build_message(
        rendered=rendered,
        to=subscriber.email,
        headers={
            **own.list_unsubscribe_headers,
            **edition_headers(edition_id=body.edition_id, frequency=body.frequency),
        },
        tags=list(body.tags),
        # Strings, because several ESPs hand metadata back to webhooks as strings whatever was sent.
        metadata={"edition_id": str(body.edition_id), "subscriber_id": str(subscriber.pk)},
        connection=connection,
    )
