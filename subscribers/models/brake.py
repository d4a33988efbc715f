"""The complaint-rate brake's state: whether sending is paused, why, and when a curator last resumed it."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SendingBrake(models.Model):
    """One row (pk 1). Engaged, nothing new is sent until a curator resumes (``subscribers.brake``)."""

    SINGLETON = 1

    engaged_at = models.DateTimeField(null=True, blank=True)
    # The rates that tripped it, as a sentence: also written on every edition it holds.
    reason = models.TextField(blank=True)
    # The rates are judged only on deliveries sent after this: resuming acknowledges the complaints seen so far.
    resumed_at = models.DateTimeField(null=True, blank=True)
    resumed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "sending brake"
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="sending_brake_single_row")]

    def __str__(self) -> str:
        return "Sending paused" if self.engaged_at else "Sending allowed"
