"""Signed tokens for the links in subscriber emails: one salt per purpose, bound to the subscriber's token key.

A token carries ``<subscriber id>.<token_key>`` signed with ``TimestampSigner``. The salt differs per purpose, so a
preferences token never opens the unsubscribe or confirm pages. ``token_key`` is random per subscriber row and is
checked against the row, so a link opens only the row it was made for: erasing a subscriber deletes the row (every
link ever sent stops working), and should the id ever name someone else (ids handed out again after a database is
restored from an older backup), the old link's key does not match theirs. Signing costs one HMAC and no query, which
matters because the sender makes these for every recipient of every edition.
"""

from __future__ import annotations

import base64
import enum
import functools
import hmac
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

_MAX_TOKEN_LENGTH = 200  # longer than any token we make; refuse anything bigger before doing crypto on it


class Purpose(enum.StrEnum):
    CONFIRM = "confirm"
    PREFERENCES = "preferences"
    UNSUBSCRIBE = "unsubscribe"


class TokenError(Exception):
    """The token is not one we issued for this purpose (forged, tampered, truncated) or it has expired."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class TokenClaim:
    subscriber_id: int
    token_key: str


def _signer(purpose: Purpose) -> signing.TimestampSigner:
    return _signer_for(purpose, settings.SECRET_KEY, tuple(settings.SECRET_KEY_FALLBACKS))


@functools.lru_cache(maxsize=16)
def _signer_for(purpose: Purpose, key: str, fallbacks: tuple[str, ...]) -> signing.TimestampSigner:
    # Made once per purpose and key, not twice per recipient of every edition (a third of a token's cost); keyed on
    # the secrets, so a rotated key (or a test's override) gets a signer of its own.
    return signing.TimestampSigner(key=key, fallback_keys=list(fallbacks), salt=f"subscribers.links.{purpose.value}")


def make_token(*, subscriber_id: int, token_key: str, purpose: Purpose) -> str:
    return _signer(purpose).sign(f"{subscriber_id}.{token_key}")


def read_token(token: str, *, purpose: Purpose, max_age: timedelta | None = None) -> TokenClaim:
    """The claim inside a token, or ``TokenError``. It does not touch the database: see ``claim_matches``."""
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        raise TokenError("malformed token")
    try:
        value = _signer(purpose).unsign(token, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise TokenError("expired token", expired=True) from exc
    except signing.BadSignature as exc:
        raise TokenError("bad signature") from exc
    raw_id, _, token_key = value.partition(".")
    if not raw_id.isdigit() or not token_key:
        raise TokenError("malformed claim")
    return TokenClaim(subscriber_id=int(raw_id), token_key=token_key)


def claim_matches(claim: TokenClaim, *, token_key: str) -> bool:
    return constant_time_compare(claim.token_key, token_key)


# --- Feedback links: bound to one reader, their token key and one paper ----------------------------------------

FEEDBACK_SALT = "subscribers.links.feedback"
_MAC_BYTES = 18  # 144 bits, 24 characters of URL-safe base64


@dataclass(frozen=True)
class FeedbackClaim:
    """What a feedback token says, before it is checked against the reader's current token key."""

    subscriber_id: int
    paper_id: int
    issued_at: int  # unix seconds
    message: str
    mac: str


def _reader_key(subscriber_id: int, token_key: str) -> bytes:
    # The token key is part of the MAC key rather than of the token: a link only verifies against the row it was made
    # for (erasure deletes the row; an id handed out again has another key).
    return salted_hmac(FEEDBACK_SALT, f"{subscriber_id}.{token_key}", algorithm="sha256").digest()


def _mac(key: bytes, message: str) -> str:
    digest = hmac.digest(key, message.encode(), "sha256")[:_MAC_BYTES]
    return base64.urlsafe_b64encode(digest).decode()


class FeedbackSigner:
    """Signs one reader's feedback tokens: ``<reader>.<paper>.<time>.<mac>``.

    Every paper of every email carries two feedback links, so the reader's key is derived once (one salted HMAC)
    and each paper then costs one plain HMAC-SHA256 (a couple of microseconds, against ~15 for a
    ``TimestampSigner`` signature), which keeps personalised sending close to plain sending.
    """

    def __init__(self, *, subscriber_id: int, token_key: str, now: float | None = None) -> None:
        self._prefix = f"{subscriber_id}."
        self._key = _reader_key(subscriber_id, token_key)
        self._stamp = signing.b62_encode(int(time.time() if now is None else now))

    def token(self, paper_id: int) -> str:
        message = f"{paper_id}.{self._stamp}"
        return f"{self._prefix}{message}.{_mac(self._key, message)}"


def make_feedback_token(*, subscriber_id: int, token_key: str, paper_id: int) -> str:
    """One token serves both "more" and "less" links of a paper (the choice is in the URL, and the page lets the
    reader change it before the POST)."""
    return FeedbackSigner(subscriber_id=subscriber_id, token_key=token_key).token(paper_id)


def read_feedback_token(token: str) -> FeedbackClaim:
    """The claim a feedback token makes, or ``TokenError`` when it is not shaped like one; no crypto, no query."""
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        raise TokenError("malformed token")
    parts = token.split(".")
    if len(parts) != 4 or not parts[0].isdigit() or not parts[1].isdigit() or not parts[3]:
        raise TokenError("malformed token")
    try:
        issued_at = signing.b62_decode(parts[2])
    except (ValueError, IndexError) as exc:
        raise TokenError("malformed token") from exc
    return FeedbackClaim(
        subscriber_id=int(parts[0]),
        paper_id=int(parts[1]),
        issued_at=issued_at,
        message=f"{parts[1]}.{parts[2]}",
        mac=parts[3],
    )


def check_feedback_token(claim: FeedbackClaim, *, token_key: str, max_age: timedelta) -> None:
    """Raise ``TokenError`` unless the claim was signed with this reader's current key and is not expired."""
    expected = _mac(_reader_key(claim.subscriber_id, token_key), claim.message)
    if not constant_time_compare(claim.mac, expected):
        raise TokenError("bad signature")
    if time.time() - claim.issued_at > max_age.total_seconds():
        raise TokenError("expired token", expired=True)
