"""Subscriber business logic: sign-up, double opt-in, preferences, unsubscribe, suppression, export and erasure.

Views, tasks and admin actions call these typed keyword-only functions and do nothing else of substance. State
changes are conditional UPDATEs ("if one row changed, it was this call"), so a double click, a mail scanner and a
retried task all leave one outcome. Emails are enqueued with ``transaction.on_commit`` so a rolled-back sign-up
never mails anyone and the worker always finds the committed row.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from datetime import timedelta
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.crypto import salted_hmac

from digest.models import Frequency
from digest.rendering.keywords import clean_keywords
from subscribers.clicks.export import clicks_export
from subscribers.feedback import votes_export
from subscribers.models import Subscriber, Suppression
from subscribers.profiles import profiles_rebuild

logger = logging.getLogger(__name__)

EMAIL_MAX_LENGTH = 254  # RFC 5321 path limit
KEYWORDS_INPUT_MAX_LENGTH = 600
CONSENT_SOURCE_MAX_LENGTH = 300
CONFIRMATION_INTERVAL = timedelta(hours=1)

# Addresses the ESP rejected, or whose owner complained, or staff blocked: a sign-up form must not be a way to mail
# them again. Only "deleted" (the person erased their own data) allows a fresh double opt-in.
BLOCKING_SUPPRESSIONS = (
    Suppression.Reason.BOUNCED,
    Suppression.Reason.COMPLAINED,
    Suppression.Reason.INVALID,
    Suppression.Reason.MANUAL,
)

# No allowlist: "user@localhost" is not an address anyone outside this machine can receive at.
_email_validator = EmailValidator(message="Enter a valid email address.", allowlist=[])
# Dot-atom local part only: quoted local parts ("a b"@x) are legal but only ever used to smuggle odd characters.
_LOCAL_PART = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_KEYWORD_SPLIT = re.compile(r"[,\n;]")


# --- Normalization and hashing -----------------------------------------------------------------------------


def normalize_email(raw: str) -> str:
    """The canonical form we store and compare: trimmed, lower-case, IDNA domain; ``ValidationError`` otherwise.

    Any control character or inner whitespace is refused rather than stripped, so ``a@b.c\\nBcc: x@y.z`` is an
    error and never an address.
    """
    if not isinstance(raw, str):
        raise ValidationError("Enter a valid email address.", code="invalid")
    value = raw.strip()
    if not value:
        raise ValidationError("Enter your email address.", code="required")
    if len(value) > EMAIL_MAX_LENGTH:
        raise ValidationError(f"An email address has at most {EMAIL_MAX_LENGTH} characters.", code="max_length")
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in value):
        raise ValidationError("Enter a valid email address.", code="invalid")
    local, sep, domain = value.rpartition("@")
    if not sep:
        raise ValidationError("Enter a valid email address.", code="invalid")
    local = local.lower()
    try:
        domain = domain.lower().encode("idna").decode("ascii")
    except UnicodeError:
        raise ValidationError("Enter a valid email address.", code="invalid") from None
    if not _LOCAL_PART.fullmatch(local) or len(local) > 64:
        raise ValidationError("Enter a valid email address.", code="invalid")
    email = f"{local}@{domain}"
    if len(email) > EMAIL_MAX_LENGTH:
        raise ValidationError(f"An email address has at most {EMAIL_MAX_LENGTH} characters.", code="max_length")
    _email_validator(email)
    return email


def email_hash(email: str) -> str:
    """The suppression key. Unkeyed on purpose: it must survive a SECRET_KEY rotation, or suppressions would lapse."""
    return hashlib.sha256(f"suppression:{email.strip().lower()}".encode()).hexdigest()


def ip_hash(ip: str) -> str:
    """A salted, keyed hash of the sign-up IP for the consent record: provable later, useless to a reader now."""
    if not ip:
        return ""
    return salted_hmac("subscribers.consent-ip", ip, algorithm="sha256").hexdigest()


def parse_keywords(raw: str) -> list[str]:
    """Comma-, semicolon- or line-separated keywords, trimmed and de-duplicated case-insensitively."""
    if len(raw) > KEYWORDS_INPUT_MAX_LENGTH:
        raise ValidationError(
            f"Keywords take at most {KEYWORDS_INPUT_MAX_LENGTH} characters in all.", code="max_length"
        )
    return clean_keywords(_KEYWORD_SPLIT.split(raw))


@cache
def valid_time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _check_frequency(frequency: str) -> str:
    if frequency not in Frequency.values:
        raise ValidationError(f"Frequency must be one of {', '.join(Frequency.values)}.", code="invalid")
    return frequency


def _check_time_zone(time_zone: str) -> str:
    if time_zone not in valid_time_zones():
        raise ValidationError("Choose a time zone from the list.", code="invalid")
    return time_zone


def subscribers_with_email(email: str) -> QuerySet[Subscriber]:
    """The subscriber with this address, in any case (none or one). Matches the functional unique index on
    LOWER(email), so the lookup is an index probe; ``email__iexact`` would read all million rows."""
    return Subscriber.objects.alias(email_lower=Lower("email")).filter(email_lower=email.lower())


def is_blocked(email: str) -> bool:
    """A suppression other than the person's own erasure keeps ``email`` from being mailed or signed up again."""
    return Suppression.objects.filter(email_hash=email_hash(email), reason__in=BLOCKING_SUPPRESSIONS).exists()


def _enqueue_on_commit(task_name: str, subscriber_id: int) -> None:
    # Imported here because of a real cycle: the tasks call these services, and importing the tasks package at
    # this module's top would import the sending tasks, whose delivery modules import these services half-built.
    from subscribers.tasks import transactional

    task = getattr(transactional, task_name)
    transaction.on_commit(lambda: task.delay(subscriber_id))


# --- Sign-up and double opt-in -----------------------------------------------------------------------------


def subscriber_subscribe(
    *,
    email: str,
    keywords: list[str],
    frequency: str,
    consent_source: str,
    consent_text: str,
    ip: str,
) -> Subscriber:
    """Create or reuse the subscriber for ``email`` and enqueue at most one email per address per hour.

    - new, pending, unsubscribed or complained-then-deleted: pending, with these preferences and this consent
      record, and a confirmation email;
    - active: nothing changes (a stranger must not be able to alter someone's subscription); the owner gets an
      "already subscribed" notice with their preferences link instead;
    - suppressed (bounced, complained, invalid, blocked by staff): nothing is sent.
    The caller answers the same whatever happened, so the outcome is not returned as a flag.
    """
    email = normalize_email(email)
    keywords = clean_keywords(list(keywords))
    frequency = _check_frequency(frequency)
    consent_source = consent_source[:CONSENT_SOURCE_MAX_LENGTH]
    now = timezone.now()
    blocked = is_blocked(email)
    fields: dict[str, Any] = {
        "keywords": keywords,
        "frequency": frequency,
        "consent_at": now,
        "consent_source": consent_source,
        "consent_text": consent_text,
        "consent_ip_hash": ip_hash(ip),
    }
    with transaction.atomic():
        subscriber = subscribers_with_email(email).select_for_update().first()
        if subscriber is None:
            try:
                with transaction.atomic():
                    subscriber = Subscriber.objects.create(
                        email=email,
                        status=Subscriber.Status.PENDING,
                        status_changed_at=now,
                        confirmation_sent_at=None if blocked else now,
                        **fields,
                    )
            except IntegrityError:
                # A concurrent sign-up for the same address committed first: continue as a repeat sign-up.
                subscriber = subscribers_with_email(email).select_for_update().get()
            else:
                if not blocked:
                    _enqueue_on_commit("send_confirmation", subscriber.pk)
                return subscriber
        if blocked or subscriber.status == Subscriber.Status.BOUNCED:
            return subscriber
        if subscriber.status == Subscriber.Status.ACTIVE:
            task_name = "send_already_subscribed"
        else:
            task_name = "send_confirmation"
            changed = {"status": Subscriber.Status.PENDING, **fields}
            if subscriber.status != Subscriber.Status.PENDING:
                changed["status_changed_at"] = now
            Subscriber.objects.filter(pk=subscriber.pk).update(**changed)
            for name, value in changed.items():
                setattr(subscriber, name, value)
        # The hourly allowance is claimed in the row, not the cache, so it holds across processes and restarts.
        claimed = (
            Subscriber.objects.filter(pk=subscriber.pk)
            .filter(Q(confirmation_sent_at__isnull=True) | Q(confirmation_sent_at__lte=now - CONFIRMATION_INTERVAL))
            .update(confirmation_sent_at=now)
        )
        if claimed:
            subscriber.confirmation_sent_at = now
            _enqueue_on_commit(task_name, subscriber.pk)
    return subscriber


def subscriber_confirm(*, subscriber: Subscriber) -> bool:
    """Pending -> active, then a welcome email. True only for the call that made the change."""
    now = timezone.now()
    with transaction.atomic():
        changed = Subscriber.objects.filter(pk=subscriber.pk, status=Subscriber.Status.PENDING).update(
            status=Subscriber.Status.ACTIVE, status_changed_at=now, confirmed_at=now
        )
        if changed:
            # A person who once erased their data and came back through double opt-in is no longer suppressed.
            Suppression.objects.filter(
                email_hash=email_hash(subscriber.email), reason=Suppression.Reason.DELETED
            ).delete()
            _enqueue_on_commit("send_welcome", subscriber.pk)
    subscriber.refresh_from_db()
    return bool(changed)


def subscriber_unsubscribe(*, subscriber: Subscriber, via: str) -> bool:
    """Active or pending -> unsubscribed at once. True only for the call that made the change."""
    now = timezone.now()
    changed = Subscriber.objects.filter(pk=subscriber.pk, status__in=Subscriber.ON_THE_LIST).update(
        status=Subscriber.Status.UNSUBSCRIBED, status_changed_at=now, unsubscribed_at=now, unsubscribed_via=via[:20]
    )
    subscriber.refresh_from_db()
    if changed:
        logger.info("subscriber %s unsubscribed via %s", subscriber.pk, via)
    return bool(changed)


_SUPPRESSION_STATUS = {
    Suppression.Reason.BOUNCED: (Subscriber.Status.BOUNCED, "bounced_at"),
    Suppression.Reason.INVALID: (Subscriber.Status.BOUNCED, "bounced_at"),
    Suppression.Reason.COMPLAINED: (Subscriber.Status.COMPLAINED, "complained_at"),
    Suppression.Reason.MANUAL: (Subscriber.Status.UNSUBSCRIBED, "unsubscribed_at"),
    Suppression.Reason.DELETED: (Subscriber.Status.UNSUBSCRIBED, "unsubscribed_at"),
}


def subscriber_suppress(*, email: str, reason: str) -> None:
    """Never mail ``email`` again: record its hash and move its subscriber (if any) to the matching status.

    Called by webhooks and the sender with whatever address the ESP reported, so a malformed one is still
    suppressed by its trimmed lower-case form rather than refused.
    """
    if reason not in Suppression.Reason.values:
        raise ValueError(f"unknown suppression reason {reason!r}")
    try:
        email = normalize_email(email)
    except ValidationError:
        email = email.strip().lower()
    status, stamp = _SUPPRESSION_STATUS[Suppression.Reason(reason)]
    now = timezone.now()
    with transaction.atomic():
        Suppression.objects.get_or_create(email_hash=email_hash(email), defaults={"reason": reason})
        subscribers_with_email(email).exclude(status=status).update(
            status=status, status_changed_at=now, **{stamp: now}
        )


def suppress_subscriber_id(*, subscriber_id: int, reason: str) -> None:
    email = Subscriber.objects.filter(pk=subscriber_id).values_list("email", flat=True).first()
    if email:
        subscriber_suppress(email=email, reason=reason)


# --- Preferences, export, erasure --------------------------------------------------------------------------


def subscriber_update_preferences(
    *, subscriber: Subscriber, keywords: list[str], frequency: str, time_zone: str
) -> Subscriber:
    before = list(subscriber.keywords)
    subscriber.keywords = clean_keywords(list(keywords))
    subscriber.frequency = _check_frequency(frequency)
    subscriber.time_zone = _check_time_zone(time_zone)
    subscriber.save(update_fields=["keywords", "frequency", "time_zone"])
    if subscriber.keywords != before:
        # Keywords are the profile's prior: the next email's "For you" follows them.
        profiles_rebuild(subscriber_ids=[subscriber.pk])
    return subscriber


def subscriber_export(*, subscriber: Subscriber) -> dict[str, Any]:
    """Everything we hold about this person (GDPR art. 15/20), as JSON-ready data."""

    def stamp(value: Any) -> str | None:
        return value.isoformat() if value else None

    deliveries = [
        {
            "edition": stamp(row["edition__date"]),
            "status": row["status"],
            "sent_at": stamp(row["sent_at"]),
        }
        for row in subscriber.deliveries.order_by("edition__date").values("edition__date", "status", "sent_at")
    ]
    return {
        "email": subscriber.email,
        "status": subscriber.status,
        "created_at": stamp(subscriber.created_at),
        "status_changed_at": stamp(subscriber.status_changed_at),
        "confirmed_at": stamp(subscriber.confirmed_at),
        "unsubscribed_at": stamp(subscriber.unsubscribed_at),
        "preferences": {
            "frequency": subscriber.frequency,
            "keywords": list(subscriber.keywords),
            "time_zone": subscriber.time_zone,
        },
        "consent": {
            "at": stamp(subscriber.consent_at),
            "source": subscriber.consent_source,
            "text": subscriber.consent_text,
            "ip_hash": subscriber.consent_ip_hash,
        },
        "deliveries": deliveries,
        "clicks": clicks_export(subscriber_id=subscriber.pk),
        "votes": votes_export(subscriber=subscriber),
    }


def subscriber_delete(*, subscriber: Subscriber) -> None:
    """Erase the person: the row, its deliveries, its clicks and every link ever sent go; only the suppression hash
    stays (and the per-paper daily reader counts, which name nobody)."""
    with transaction.atomic():
        Suppression.objects.get_or_create(
            email_hash=email_hash(subscriber.email), defaults={"reason": Suppression.Reason.DELETED}
        )
        Subscriber.objects.filter(pk=subscriber.pk).delete()
    logger.info("subscriber %s erased at their request", subscriber.pk)
