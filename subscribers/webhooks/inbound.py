"""Mail to the ``List-Unsubscribe`` mailto address, received through Anymail's inbound webhooks.

Every subscribed email offers ``mailto:<UNSUBSCRIBE_MAILTO>?subject=unsubscribe%20<token>``; some mail clients only
offer that half. The ESP's inbound route posts the mail here, Anymail authenticates the post and parses it, and a
subject carrying a genuine unsubscribe token unsubscribes that reader at once (``unsubscribed_via`` = ``mailto``).

The token, not the From address, decides who is unsubscribed: From is trivially forged, the token is signed. Any
other mail (no token, a tampered or rotated one, a reader since erased) is logged and dropped with a 200, so the
ESP does not retry it.
"""

from __future__ import annotations

import enum
import logging
import re
from typing import Any

from anymail.signals import AnymailInboundEvent, inbound
from django.dispatch import receiver

from subscribers.models import Subscriber
from subscribers.services import subscriber_unsubscribe
from subscribers.tokens import Purpose, TokenError, claim_matches, read_token

logger = logging.getLogger(__name__)

VIA_MAILTO = "mailto"
# <subscriber id>.<token key>:<timestamp>:<signature>, as TimestampSigner writes it (see subscribers.tokens).
_TOKEN = re.compile(r"[0-9]+\.[A-Za-z0-9_-]+:[A-Za-z0-9]+:[A-Za-z0-9_-]+")
_MAX_SUBJECT = 998  # an RFC 5322 line; a longer subject is not one our mailto link produced
_MAX_CANDIDATES = 3


class Outcome(enum.StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    ALREADY = "already unsubscribed"
    NO_TOKEN = "no unsubscribe token in the subject"  # noqa: S105 (a log phrase, not a secret)
    BAD_TOKEN = "an invalid unsubscribe token"  # noqa: S105
    GONE = "a token for a subscriber since erased"


def mailto_unsubscribe(*, subject: str) -> Outcome:
    """Unsubscribe the reader whose token the subject carries (``Re: unsubscribe <token>`` works too)."""
    candidates = _TOKEN.findall(subject[:_MAX_SUBJECT])[:_MAX_CANDIDATES]
    if not candidates:
        return Outcome.NO_TOKEN
    outcome = Outcome.BAD_TOKEN
    for token in candidates:
        try:
            # No max_age: like the https link, an unsubscribe token never expires (rotating token_key revokes it).
            claim = read_token(token, purpose=Purpose.UNSUBSCRIBE)
        except TokenError:
            continue
        subscriber = Subscriber.objects.filter(pk=claim.subscriber_id).first()
        if subscriber is None:
            outcome = Outcome.GONE
            continue
        if not claim_matches(claim, token_key=subscriber.token_key):
            continue
        changed = subscriber_unsubscribe(subscriber=subscriber, via=VIA_MAILTO)
        return Outcome.UNSUBSCRIBED if changed else Outcome.ALREADY
    return outcome


@receiver(inbound, dispatch_uid="subscribers.webhooks.inbound.on_inbound")
def on_inbound(sender: object, event: AnymailInboundEvent, esp_name: str, **kwargs: Any) -> None:
    message = event.message
    subject = str(message.subject or "") if message is not None else ""
    outcome = mailto_unsubscribe(subject=subject)
    # Neither the address nor the subject is logged: the token in it would unsubscribe the reader.
    logger.info("inbound mail via %s (event %s): %s", esp_name, str(event.event_id or "-")[:100], outcome.value)
