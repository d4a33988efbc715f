"""Figures the database keeps up to date: deliveries per edition and status, subscribers per status, and
subscribers per day of each dated event (signed up, confirmed, unsubscribed, bounced, complained).

Rows here are written only by triggers (``subscribers.counts``): a figure is the sum of ``n`` over its key's rows.
"""

from __future__ import annotations

from django.db import models


class DeliveryCount(models.Model):
    # No database constraint: an edition's deliveries are deleted with it, and their trigger rows (which sum to
    # zero) are written after the edition is gone; folding removes them.
    edition = models.ForeignKey(
        "digest.Edition", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    status = models.CharField(max_length=10)  # a Delivery.Status
    n = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["edition", "status", "n"], name="deliverycount_key")]

    def __str__(self) -> str:
        return f"{self.edition_id} {self.status}: {self.n:+d}"


class SubscriberCount(models.Model):
    status = models.CharField(max_length=12)  # a Subscriber.Status
    n = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["status", "n"], name="subscribercount_key")]

    def __str__(self) -> str:
        return f"{self.status}: {self.n:+d}"


class SubscriberDayCount(models.Model):
    """Subscribers whose ``event`` timestamp (a Subscriber field, e.g. ``created_at``) falls on ``day``: the
    dashboard's daily charts, without grouping the month's rows of a million-row table on every view."""

    event = models.CharField(max_length=20)
    day = models.DateField()
    n = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["day", "event", "n"], name="subscriberdaycount_key")]

    def __str__(self) -> str:
        return f"{self.event} {self.day}: {self.n:+d}"
