"""People on the list, and the addresses that must never be mailed again."""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models.functions import Lower

from digest.models import Frequency


def new_token_key() -> str:
    return secrets.token_urlsafe(12)


class Subscriber(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending confirmation"
        ACTIVE = "active", "Active"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        BOUNCED = "bounced", "Bounced"
        COMPLAINED = "complained", "Complained"

    # Signed up and not gone: confirming, unsubscribing and the confirm page apply to these; the others left, or
    # their address was suppressed (bounced, complained), and only a fresh sign-up brings them back.
    ON_THE_LIST = (Status.PENDING, Status.ACTIVE)

    email = models.EmailField(max_length=254)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    # Part of every signed link, checked against the row: a link opens only the subscriber it was made for, even
    # if the id is ever handed out again (see subscribers.tokens).
    token_key = models.CharField(max_length=32, default=new_token_key)
    created_at = models.DateTimeField(auto_now_add=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # How they left (one-click header, the page's button, admin...): tells whether mailbox providers' buttons are used.
    unsubscribed_via = models.CharField(max_length=20, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    complained_at = models.DateTimeField(null=True, blank=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    # Preferences.
    frequency = models.CharField(max_length=8, choices=Frequency.choices, default=Frequency.DAILY, db_index=True)
    keywords = models.JSONField(default=list, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    # Consent record: when, from which page, the exact text agreed to; the IP only as a salted hash.
    consent_at = models.DateTimeField(null=True, blank=True)
    consent_source = models.CharField(max_length=300, blank=True)
    consent_text = models.TextField(blank=True)
    consent_ip_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(Lower("email"), name="subscriber_email_ci_unique")]
        # The admin list's order and sorts, and lookups of the rows of a day's event. (The dashboard's daily figures
        # no longer read these: they are kept per day, SubscriberDayCount.)
        # The substring search over email and keywords has trigram indexes, on PostgreSQL only (migration 0008).
        indexes = [
            models.Index(fields=["created_at"], name="subscriber_created_at"),
            models.Index(fields=["confirmed_at"], name="subscriber_confirmed_at"),
            models.Index(fields=["unsubscribed_at"], name="subscriber_unsubscribed_at"),
            models.Index(fields=["bounced_at"], name="subscriber_bounced_at"),
            models.Index(fields=["complained_at"], name="subscriber_complained_at"),
        ]
        # Exporting hands out every address at once, so it is a permission of its own that curators lack.
        permissions = [("export_subscriber", "Can export subscribers as CSV")]

    def __str__(self) -> str:
        return self.email


class Suppression(models.Model):
    """An address that must not be mailed, kept as a hash so a deleted subscriber leaves no address behind."""

    class Reason(models.TextChoices):
        BOUNCED = "bounced", "Hard bounce"
        COMPLAINED = "complained", "Complaint"
        INVALID = "invalid", "Rejected by the ESP as invalid"
        DELETED = "deleted", "Deleted at the subscriber's request"
        MANUAL = "manual", "Added by staff"

    email_hash = models.CharField(max_length=64, unique=True)
    reason = models.CharField(max_length=12, choices=Reason.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email_hash[:12]}… ({self.reason})"
