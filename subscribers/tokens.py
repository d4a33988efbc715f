"""Signed tokens for the links in subscriber emails: one salt per purpose, bound to the subscriber's token key.

A token carries ``<subscriber id>.<token_key>`` signed with ``TimestampSigner``. The salt differs per purpose, so a
preferences token never opens the unsubscribe or confirm pages. Because ``token_key`` is part of the signed value and
is checked against the row, rotating it (or deleting the subscriber) invalidates every link ever sent. Signing costs
one HMAC and no query, which matters because the sender makes these for every recipient of every edition.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

from django.core import signing
from django.utils.crypto import constant_time_compare

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
    return signing.TimestampSigner(salt=f"subscribers.links.{purpose.value}")


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


# --- Feedback links: bound to one paper as well -------------------------------------------------------------

FEEDBACK_PURPOSE = "feedback"


@dataclass(frozen=True)
class FeedbackClaim:
    subscriber_id: int
    token_key: str
    paper_id: int


def _feedback_signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=f"subscribers.links.{FEEDBACK_PURPOSE}")


def make_feedback_token(*, subscriber_id: int, token_key: str, paper_id: int) -> str:
    """One token serves both "more" and "less" links of a paper (the choice is in the URL, and the page lets the
    reader change it before the POST), so a recipient costs one signature per paper."""
    return _feedback_signer().sign(f"{subscriber_id}.{token_key}.{paper_id}")


def read_feedback_token(token: str, *, max_age: timedelta | None = None) -> FeedbackClaim:
    """The claim inside a feedback token, or ``TokenError``; like ``read_token``, no database."""
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        raise TokenError("malformed token")
    try:
        value = _feedback_signer().unsign(token, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise TokenError("expired token", expired=True) from exc
    except signing.BadSignature as exc:
        raise TokenError("bad signature") from exc
    parts = value.split(".")
    if len(parts) != 3:
        raise TokenError("malformed claim")
    raw_id, token_key, raw_paper = parts
    if not raw_id.isdigit() or not token_key or not raw_paper.isdigit():
        raise TokenError("malformed claim")
    return FeedbackClaim(subscriber_id=int(raw_id), token_key=token_key, paper_id=int(raw_paper))
