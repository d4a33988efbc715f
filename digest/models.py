"""Papers, where they were seen, and the daily editions built from them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import models
from django.db.models import Value, lookups
from django.db.models.functions import Coalesce, Concat, Upper

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import Expression
    from django.db.models.sql.compiler import SQLCompiler

ARXIV_ABS_URL = "https://arxiv.org/abs/{}"
ARXIV_TITLE_SEARCH_URL = "https://arxiv.org/search/?"


class DocumentFormat(models.TextChoices):
    AUTO = "auto", "Detect from content"
    TEXT = "text", "Plain-text trending page"
    HTML = "html", "HTML trending page"
    JSON = "json", "Daily-papers API JSON"
    FEED = "feed", "RSS / Atom feed"


class Source(models.Model):
    """A place digests come from, polled by the beat task when enabled."""

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=1000)
    format = models.CharField(max_length=8, choices=DocumentFormat.choices, default=DocumentFormat.AUTO)
    enabled = models.BooleanField(default=True)
    etag = models.CharField(max_length=300, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    last_fetched_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=200, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DigestDocument(models.Model):
    """One ingested page, raw bytes kept so it can be parsed again after a parser fix."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PARSED = "parsed", "Parsed"
        FAILED = "failed", "Failed"

    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.SET_NULL, related_name="documents")
    origin = models.CharField(max_length=1000, blank=True, help_text="File path or URL it came from.")
    format = models.CharField(max_length=8, choices=DocumentFormat.choices, default=DocumentFormat.AUTO)
    listed_date = models.DateField(null=True, blank=True, help_text="The day the page lists.")
    raw = models.BinaryField()
    size = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    error = models.TextField(blank=True)
    paper_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    parsed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.origin or self.sha256[:12]} ({self.listed_date or 'undated'})"


class LookupStatus(models.TextChoices):
    """What the title lookup (``digest.enrichment``) made of a paper that was listed without an arXiv id."""

    UNTRIED = "untried", "Not looked up"
    FOUND = "found", "Found: id filled in"
    NOT_FOUND = "not_found", "No exact title match"
    DUPLICATE = "duplicate", "Found, but the id belongs to another paper"
    FAILED = "failed", "The answer could not be read"


class UpperCasedText(models.TextField):
    """Text the database keeps upper-cased (a generated column): ``icontains`` upper-cases only the searched term
    and compares the column as stored, so its own index answers and no row is folded again."""


@UpperCasedText.register_lookup
class UpperCasedIContains(lookups.IContains):
    lookup_name = "icontains"

    # django-stubs says a tuple of params; Django's as_sql extends the list this returns, as BuiltinLookup's does.
    def process_lhs(  # type: ignore[override]
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, lhs: Expression | None = None
    ) -> tuple[str, list[Any]]:
        # IContains would wrap the column in UPPER(); the term is still upper-cased by the operator (PostgreSQL's
        # ``LIKE UPPER(%s)``; SQLite's LIKE ignores ASCII case, as UPPER there folds ASCII only).
        sql, params = compiler.compile(self.lhs if lhs is None else lhs)
        return sql, list(params)


class Paper(models.Model):
    """One paper, however often it appears. ``arxiv_id`` when known, else ``title_key`` de-duplicates."""

    # Fields the curator may correct in admin and that ingestion or enrichment would otherwise refresh; an edited
    # one is named in ``edited_fields`` and left alone from then on.
    CURATED_EXTRAS = ("ai_summary", "github_repo", "project_page")

    arxiv_id = models.CharField(max_length=32, unique=True, null=True, blank=True)
    title = models.TextField()
    abstract = models.TextField(blank=True)
    title_key = models.CharField(max_length=500, db_index=True)
    authors = models.JSONField(default=list, blank=True)
    links = models.JSONField(default=dict, blank=True)
    published = models.DateField(null=True, blank=True)
    upvotes = models.IntegerField(default=0)
    first_seen = models.DateField(null=True, blank=True)
    last_seen = models.DateField(null=True, blank=True, db_index=True)
    appearance_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # What the daily-papers API adds to a paper (absent from the text rendering).
    ai_summary = models.TextField(blank=True, help_text="The source's one-line AI summary (TL;DR).")
    github_repo = models.URLField(max_length=500, blank=True, help_text="The paper's code repository.")
    github_stars = models.PositiveIntegerField(null=True, blank=True)
    project_page = models.URLField(max_length=500, blank=True)
    num_comments = models.PositiveIntegerField(null=True, blank=True, help_text="Comments on the source's page.")
    # The title lookup for papers listed without an id.
    lookup_status = models.CharField(
        max_length=10, choices=LookupStatus.choices, default=LookupStatus.UNTRIED, db_index=True
    )
    looked_up_at = models.DateTimeField(null=True, blank=True)
    lookup_note = models.CharField(max_length=300, blank=True)
    # Curator fields: ingestion never writes these, and never overwrites an edited title or abstract.
    pinned = models.BooleanField(default=False, db_index=True)
    hidden = models.BooleanField(default=False, db_index=True)
    boost = models.FloatField(default=0.0, help_text="Added to the trending score.")
    note = models.TextField(blank=True)
    title_edited = models.BooleanField(default=False)
    abstract_edited = models.BooleanField(default=False)
    edited_fields = models.JSONField(
        default=list, blank=True, help_text="Of TL;DR, code and project page: those a curator edited."
    )
    # Title, abstract and arXiv id as one upper-cased text, kept by the database, for the admin's search. Each
    # searched word is one condition on it, which one trigram index answers (PostgreSQL, migration 0007; over three
    # columns it would OR three index scans per word). The papers the index finds are checked against this stored
    # text: upper-casing each one's abstract at query time cost about 8 us a paper, 100 ms for a word in 13,000 of
    # 100,000 papers, twice per page (the count, then the page). Words never hold a space, so none can match across
    # two fields.
    search_text = models.GeneratedField(
        expression=Upper(
            Concat(
                "title",
                Value(" "),
                "abstract",
                Value(" "),
                Coalesce("arxiv_id", Value("")),
                output_field=models.TextField(),
            )
        ),
        output_field=UpperCasedText(),
        db_persist=True,
    )

    class Meta:
        ordering = ["-last_seen", "-upvotes"]

    def __str__(self) -> str:
        return self.title[:120]

    @property
    def arxiv_url(self) -> str:
        """The arXiv abstract page when the id is known (or was found but belongs to a duplicate row), else ""."""
        if self.arxiv_id:
            return ARXIV_ABS_URL.format(self.arxiv_id)
        found = (self.links or {}).get("arxiv", "")
        return found if isinstance(found, str) and found.startswith("https://arxiv.org/abs/") else ""

    @property
    def link_url(self) -> str:
        """Where the paper's title links: its arXiv page, or until it is resolved an arXiv search for its title."""
        return self.arxiv_url or ARXIV_TITLE_SEARCH_URL + urlencode(
            {"query": " ".join(self.title.split()), "searchtype": "title"}
        )

    @property
    def tldr(self) -> str:
        """The AI summary on one line (the source sometimes wraps it)."""
        return " ".join(self.ai_summary.split())

    @property
    def code_url(self) -> str:
        """The code repository (``github_repo``); named for what a reader clicks."""
        return self.github_repo


class Appearance(models.Model):
    """A paper on one page: where, and with how many upvotes then."""

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="appearances")
    document = models.ForeignKey(DigestDocument, on_delete=models.CASCADE, related_name="appearances")
    listed_date = models.DateField(null=True, blank=True, db_index=True)
    position = models.PositiveIntegerField()
    upvotes = models.IntegerField(null=True, blank=True)

    class Meta:
        ordering = ["document", "position"]
        constraints = [models.UniqueConstraint(fields=["paper", "document"], name="appearance_once_per_document")]

    def __str__(self) -> str:
        return f"{self.paper_id} in {self.document_id} at {self.position}"


class Frequency(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"


class Edition(models.Model):
    """One day's newsletter (or one week's, for weekly subscribers)."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        APPROVED = "approved", "Approved"
        HELD = "held", "Held"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        CANCELLED = "cancelled", "Cancelled"

    date = models.DateField()
    frequency = models.CharField(max_length=8, choices=Frequency.choices, default=Frequency.DAILY)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True)
    subject = models.CharField(max_length=200, blank=True)
    intro = models.TextField(blank=True, help_text="Curator's note at the top of the email.")
    built_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    send_started_at = models.DateTimeField(null=True, blank=True)
    # Why the service held it (the complaint-rate brake); empty for a curator's hold. Shown on the edition's page.
    held_reason = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The shared body as it was sent: the archive page shows this, and re-sends reuse it.
    rendered_html = models.TextField(blank=True)
    rendered_text = models.TextField(blank=True)
    recipient_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-date"]
        constraints = [models.UniqueConstraint(fields=["frequency", "date"], name="edition_once_per_day")]

    def __str__(self) -> str:
        return f"{self.get_frequency_display()} edition {self.date:%Y-%m-%d}"


class EditionEntry(models.Model):
    edition = models.ForeignKey(Edition, on_delete=models.CASCADE, related_name="entries")
    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="edition_entries")
    position = models.PositiveIntegerField()
    score = models.FloatField(default=0.0)
    score_parts = models.JSONField(default=dict, blank=True)
    pinned = models.BooleanField(default=False)

    class Meta:
        ordering = ["edition", "position"]
        constraints = [models.UniqueConstraint(fields=["edition", "paper"], name="entry_once_per_edition")]

    def __str__(self) -> str:
        return f"#{self.position} {self.paper_id}"


class PaperClicks(models.Model):
    """Readers who clicked a paper for the first time on ``day`` (scanners and bots left out).

    A count with no reader in it: the subscribers side writes it as it records clicks, and trending reads it, so
    digest never needs to know about readers.
    """

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="click_days")
    day = models.DateField()
    readers = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["paper", "day"], name="paper_clicks_once_per_day")]

    def __str__(self) -> str:
        return f"{self.paper_id} on {self.day}: {self.readers}"


class Representation(models.Model):
    """A paper representation fitted from the stored papers (see ``digest.representation``); the newest is current.

    Kept as arrays, not a pickle: loading one runs no code from the database.
    """

    version = models.PositiveIntegerField(unique=True)
    dims = models.PositiveSmallIntegerField()
    paper_count = models.PositiveIntegerField(help_text="Papers it was fitted on.")
    newest_paper_at = models.DateTimeField(null=True, blank=True, help_text="Creation time of the newest of them.")
    terms = models.JSONField(default=list, help_text="The vocabulary, in index order.")
    idf = models.BinaryField(help_text="float32 per term, little-endian.")
    components = models.BinaryField(help_text="float32 dims x terms, little-endian, row-major.")
    analyzer = models.JSONField(default=dict)
    explained_variance = models.FloatField(default=0.0)
    fit_seconds = models.FloatField(default=0.0)
    fitted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"representation v{self.version} ({self.dims} dims, {self.paper_count} papers)"


class PaperVector(models.Model):
    """One paper's unit vector under a representation (float32 bytes, dims x 4 bytes)."""

    paper = models.OneToOneField(Paper, on_delete=models.CASCADE, primary_key=True, related_name="vector")
    representation = models.ForeignKey(Representation, on_delete=models.CASCADE, related_name="vectors")
    vector = models.BinaryField()

    def __str__(self) -> str:
        return f"vector of paper {self.paper_id} (v{self.representation_id})"
