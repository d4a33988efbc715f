"""One edition to one subscriber: the row that makes a send exactly-once."""

from __future__ import annotations

from django.db import models


class DeliveryStatus(models.TextChoices):
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


S = DeliveryStatus
# Worth a curator's look: refused, bounced, complained about, or unknown after a crash. Out here (and on the model
# below) because the model's partial index for an edition's problems is declared with it.
PROBLEM = (S.FAILED, S.BOUNCED, S.COMPLAINED, S.AMBIGUOUS)


class Delivery(models.Model):
    Status = DeliveryStatus

    # The delivery's state machine: its status groups, defined here once and used everywhere (sender, sweep,
    # webhooks, reports, admin). A status is the furthest step a delivery reached.
    #
    # The ESP took these; none is ever claimed again. In the order webhooks move a delivery forward (events arrive
    # out of order, and an "opened" must not undo a "bounced"). The "sent" figure.
    ACCEPTED = (S.SENT, S.DELIVERED, S.OPENED, S.CLICKED, S.BOUNCED, S.COMPLAINED)
    # Reached the mailbox (a complaint comes from one; a bounce did not): the "delivered" figure.
    DELIVERED_OR_LATER = (S.DELIVERED, S.OPENED, S.CLICKED, S.COMPLAINED)
    OPENED_OR_LATER = (S.OPENED, S.CLICKED)
    # Not accepted and not given up: waiting for a chunk, claimed by one, or unknown after a crash. The "queued"
    # figure.
    WAITING = (S.QUEUED, S.SENDING, S.AMBIGUOUS)
    PROBLEM = PROBLEM
    # What a chunk claims. Ambiguous rows are claimed too when NEWSLETTER_RESEND_AMBIGUOUS re-sends them
    # (at-least-once): see ``subscribers.delivery.queries.claimable_statuses``.
    CLAIMABLE = (S.QUEUED,)
    RESENDABLE = (S.AMBIGUOUS,)
    # Claimed by a chunk run (``claim_token``): the ESP may or may not have accepted it yet.
    IN_FLIGHT = (S.SENDING,)

    # Every index below is written to by each of a million fan-out inserts, so there is none that another already
    # serves: an edition's rows are found by the (edition, subscriber) unique index, and the message id and claim
    # token (empty until a send) are indexed only where set. No ``varchar_pattern_ops`` twins: nothing here is
    # searched by prefix.
    # No foreign-key constraints in the database: checking them was half of a million-row fan-out (two checks per
    # new row at commit, each locking the subscriber's row). Deleting a subscriber or an edition still deletes
    # their rows (Django's CASCADE); a row a fan-out inserted while its subscriber or edition was being deleted is
    # never claimed, and the sweep drops it (``subscribers.delivery.sweep``).
    edition = models.ForeignKey(
        "digest.Edition", on_delete=models.CASCADE, related_name="deliveries", db_index=False, db_constraint=False
    )
    subscriber = models.ForeignKey(
        "subscribers.Subscriber", on_delete=models.CASCADE, related_name="deliveries", db_constraint=False
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    esp_message_id = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When a chunk task was last enqueued for this row: the sweep re-enqueues rows whose task seems lost.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # Which chunk run holds the row while it is "sending"; its send journal lives under this token in the cache.
    claim_token = models.CharField(max_length=32, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Set once the row was found "ambiguous" after a crash; kept when it is later re-sent, so it can be counted.
    ambiguous_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["edition", "subscriber"], name="delivery_once_per_subscriber")]
        indexes = [
            # The sweep's reads across editions (rows waiting, claims gone silent).
            models.Index(fields=["status"], name="delivery_status"),
            models.Index(fields=["edition", "status"]),
            # A webhook finds its delivery by the ESP's message id; a sweep a claim's rows by its token.
            models.Index(fields=["esp_message_id"], name="delivery_message_id", condition=~models.Q(esp_message_id="")),
            models.Index(fields=["claim_token"], name="delivery_claim_token", condition=~models.Q(claim_token="")),
            # The newest problems of an edition, for its admin page (reports.delivery_problems): a few percent of
            # the rows, already in order.
            models.Index(
                fields=["edition", "-updated_at"],
                condition=models.Q(status__in=[str(status) for status in PROBLEM]),
                name="delivery_problems",
            ),
            # The complaint-rate brake reads the most recent sends (``subscribers.brake``): walking this index
            # backwards from now costs the same with a thousand deliveries or a hundred million.
            models.Index(fields=["-sent_at"], name="delivery_recent_sends", condition=models.Q(sent_at__isnull=False)),
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
