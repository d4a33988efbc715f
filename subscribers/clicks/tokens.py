"""The per-recipient part of a tracked link: ``<subscriber id>.<edition id>`` signed once per email.

Every paper link of one email shares it (``/r/<token>/<link number>/``), so a recipient costs one HMAC however
many links the edition has; the link number indexes the edition's own link table, which only the server writes.
No timestamp: a link in an old email keeps working. No token key either: a deleted reader's clicks are dropped
when recorded, and the redirect itself only ever leads to the edition's own public links.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core import signing

_SALT = "subscribers.clicks"
_MAX_TOKEN_LENGTH = 120  # longer than any token we make; refuse anything bigger before doing crypto on it


class ClickTokenError(Exception):
    """Not a click token we issued: forged, tampered or truncated."""


@dataclass(frozen=True, slots=True)
class ClickClaim:
    subscriber_id: int
    edition_id: int


def make_click_token(*, subscriber_id: int, edition_id: int) -> str:
    return signing.Signer(salt=_SALT).sign(f"{subscriber_id}.{edition_id}")


def read_click_token(token: str) -> ClickClaim:
    """The claim inside ``token``, or ``ClickTokenError``. No database query."""
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        raise ClickTokenError("malformed token")
    try:
        value = signing.Signer(salt=_SALT).unsign(token)
    except signing.BadSignature as exc:
        raise ClickTokenError("bad signature") from exc
    raw_subscriber, _, raw_edition = value.partition(".")
    if not (raw_subscriber.isdigit() and raw_edition.isdigit()):
        raise ClickTokenError("malformed claim")
    return ClickClaim(subscriber_id=int(raw_subscriber), edition_id=int(raw_edition))
