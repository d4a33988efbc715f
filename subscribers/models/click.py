"""What readers open: an edition's link table (what ``/r/<token>/<number>/`` leads to) and one row per click key.

A click key is (reader, edition, paper, link kind): clicking the same arXiv link twice is one click for every
figure and score, with ``count`` keeping the raw number of requests.
"""

from __future__ import annotations

from django.db import models


class LinkKind(models.TextChoices):
    TITLE = "title", "Title"
    PAGE = "page", "Paper page"
    ARXIV = "arxiv", "arXiv"
    PDF = "pdf", "PDF"
    CODE = "code", "Code"
    PROJECT = "project", "Project page"
    OTHER = "other", "Other link"


class AgentClass(models.TextChoices):
    """What kind of client followed a link, from its User-Agent; the raw header is never stored."""

    BROWSER = "browser", "Browser or mail app"
    SCANNER = "scanner", "Mail security scanner"
    DATACENTRE = "datacentre", "Headless browser or cloud fetcher"
    BOT = "bot", "Crawler or link preview"
    SCRIPT = "script", "HTTP library or command-line tool"
    NONE = "none", "No User-Agent"


class EditionLink(models.Model):
    """One paper link of an edition as it was emailed. Written once per edition and never changed, so the redirect
    can cache it forever: a token can only ever lead to a URL in this table (no open redirect)."""

    edition = models.ForeignKey("digest.Edition", on_delete=models.CASCADE, related_name="+")
    number = models.PositiveIntegerField()
    paper = models.ForeignKey("digest.Paper", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=LinkKind.choices)
    url = models.URLField(max_length=500)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["edition", "number"], name="edition_link_once")]

    def __str__(self) -> str:
        return f"{self.edition_id}#{self.number} {self.kind}"


class ClickQuerySet(models.QuerySet["Click"]):
    def counted(self) -> ClickQuerySet:
        """Clicks that count in figures and scores: at least one request passed the bot rule."""
        return self.filter(counted_at__isnull=False)


class Click(models.Model):
    class FlagReason(models.TextChoices):
        NONE = "", "Not flagged"
        HEAD = "head", "HEAD request"
        USER_AGENT = "agent", "Scanner, bot or script User-Agent"
        SCANNER_WINDOW = "window", "Within SCANNER_WINDOW seconds of delivery"

    subscriber = models.ForeignKey("subscribers.Subscriber", on_delete=models.CASCADE, related_name="clicks")
    edition = models.ForeignKey("digest.Edition", on_delete=models.CASCADE, related_name="+")
    paper = models.ForeignKey("digest.Paper", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=LinkKind.choices)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    count = models.PositiveIntegerField(default=0, help_text="Every request, flagged ones included.")
    flagged_count = models.PositiveIntegerField(default=0)
    # The first request that passed the bot rule; null while every request looked automated (a flagged click).
    counted_at = models.DateTimeField(null=True, blank=True)
    flag_reason = models.CharField(max_length=6, choices=FlagReason.choices, blank=True)
    agent = models.CharField(max_length=10, choices=AgentClass.choices, default=AgentClass.BROWSER)

    objects = ClickQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "edition", "paper", "kind"], name="click_once_per_key")
        ]
        indexes = [models.Index(fields=["edition", "paper"]), models.Index(fields=["paper", "subscriber"])]

    def __str__(self) -> str:
        return f"{self.subscriber_id} -> {self.edition_id}/{self.paper_id}/{self.kind}"

    @property
    def flagged(self) -> bool:
        return self.counted_at is None


class ClickStreamMark(models.Model):
    """How far the drain has read the Redis click stream: the id of the last entry applied, committed in the same
    transaction as the clicks it applied, so a drain that dies before trimming the stream applies nothing twice."""

    stream = models.CharField(max_length=200, unique=True)
    last_id = models.CharField(max_length=40, default="0-0")
    drained_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.stream} @ {self.last_id}"
