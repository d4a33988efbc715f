"""One edition to one subscriber: the row that makes a send exactly-once."""

from __future__ import annotations

from django.db import models


class Delivery(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Handed to the ESP"  # claimed; the ESP may or may not have accepted it yet
        AMBIGUOUS = "ambiguous", "Unknown after a crash"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (no longer active)"
        DELIVERED = "delivered", "Delivered"
        BOUNCED = "bounced", "Bounced"
        COMPLAINED = "complained", "Complained"
        OPENED = "opened", "Opened"
        CLICKED = "clicked", "Clicked"

    # The ESP took these; none is ever claimed again.
    ACCEPTED = (Status.SENT, Status.DELIVERED, Status.OPENED, Status.CLICKED, Status.BOUNCED, Status.COMPLAINED)

    edition = models.ForeignKey("digest.Edition", on_delete=models.CASCADE, related_name="deliveries")
    subscriber = models.ForeignKey("subscribers.Subscriber", on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    esp_message_id = models.CharField(max_length=200, blank=True, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When a chunk task was last enqueued for this row: the sweep re-enqueues rows whose task seems lost.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # Which chunk run holds the row while it is "sending"; its send journal lives under this token in the cache.
    claim_token = models.CharField(max_length=32, blank=True, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Set once the row was found "ambiguous" after a crash; kept when it is later re-sent, so it can be counted.
    ambiguous_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["edition", "subscriber"], name="delivery_once_per_subscriber")]
        indexes = [
            models.Index(fields=["edition", "status"]),
            # The newest problems of an edition, for its admin page (reports.delivery_problems): a few percent of
            # the rows, already in order. The statuses are reports.PROBLEM_STATUSES (a test holds them equal).
            models.Index(
                fields=["edition", "-updated_at"],
                condition=models.Q(status__in=["failed", "bounced", "complained", "ambiguous"]),
                name="delivery_problems",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.edition_id} -> {self.subscriber_id}: {self.status}"


class TrackingEvent(models.Model):
    """An ESP tracking event, stored once by its id so a replayed webhook changes nothing."""

    event_id = models.CharField(max_length=200, unique=True)
    event_type = models.CharField(max_length=20)
    esp_message_id = models.CharField(max_length=200, blank=True)
    recipient = models.CharField(max_length=254, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        # Found by message id in admin; the recipient has a trigram index for the substring search (PostgreSQL).
        indexes = [models.Index(fields=["esp_message_id"], name="trackingevent_message_id")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"
