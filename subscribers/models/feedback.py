"""What readers told us from their emails, and what was learnt from it."""

from __future__ import annotations

from django.db import models


class Vote(models.Model):
    """A reader's "more like this" (+1) or "less like this" (-1) on a paper; a second vote replaces the first."""

    class Value(models.IntegerChoices):
        MORE = 1, "More like this"
        LESS = -1, "Less like this"

    subscriber = models.ForeignKey("subscribers.Subscriber", on_delete=models.CASCADE, related_name="votes")
    paper = models.ForeignKey("digest.Paper", on_delete=models.CASCADE, related_name="votes")
    value = models.SmallIntegerField(choices=Value.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "paper"], name="vote_once_per_paper"),
            models.CheckConstraint(condition=models.Q(value__in=[1, -1]), name="vote_value_plus_or_minus_one"),
        ]
        indexes = [models.Index(fields=["paper", "value"])]

    def __str__(self) -> str:
        return f"{self.subscriber_id} {'+' if self.value > 0 else '-'} {self.paper_id}"


class Profile(models.Model):
    """A reader's taste as one unit vector in a representation's space: ``dims`` float32, so 1 KiB at 256 dims.

    Only readers with something to lean toward (a "more like this" or a keyword) have one.
    """

    subscriber = models.OneToOneField(
        "subscribers.Subscriber", on_delete=models.CASCADE, primary_key=True, related_name="profile"
    )
    representation_version = models.PositiveIntegerField()
    vector = models.BinaryField()
    likes = models.PositiveIntegerField(default=0)
    dislikes = models.PositiveIntegerField(default=0)
    keywords = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"profile of {self.subscriber_id} (v{self.representation_version})"
