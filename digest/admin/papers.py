"""Papers in admin: find them, pin / hide / boost them, correct their text, see why they trend."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from digest.admin.audit import log_changes
from digest.admin.paging import ScaledAdmin
from digest.curation import papers_set_flags
from digest.enrichment import enrichment_enqueue, lookup_forget, lookups_enabled
from digest.models import Appearance, Frequency, Paper
from digest.parsers.base import normalize_arxiv_id
from digest.trending import score_papers, window_for


class SeenWithinFilter(admin.SimpleListFilter):
    title = "seen in the last"
    parameter_name = "seen_within"
    DAYS = (1, 7, 30, 90)

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(str(days), "day" if days == 1 else f"{days} days") for days in self.DAYS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Paper]) -> QuerySet[Paper]:
        value = self.value()
        if value is None or value not in {str(days) for days in self.DAYS}:
            return queryset
        # "The last 1 day" is today; last_seen is a listed date, so count whole days back from today.
        since = timezone.localdate() - timedelta(days=int(value) - 1)
        return queryset.filter(last_seen__gte=since)


class HasIdFilter(admin.SimpleListFilter):
    title = "has arXiv id"
    parameter_name = "has_id"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Paper]) -> QuerySet[Paper]:
        if self.value() == "yes":
            return queryset.filter(arxiv_id__isnull=False)
        if self.value() == "no":
            return queryset.filter(arxiv_id__isnull=True)
        return queryset


class BoostedFilter(admin.SimpleListFilter):
    title = "boosted"
    parameter_name = "boosted"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("up", "Boosted up"), ("down", "Boosted down"), ("no", "Not boosted")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Paper]) -> QuerySet[Paper]:
        if self.value() == "up":
            return queryset.filter(boost__gt=0)
        if self.value() == "down":
            return queryset.filter(boost__lt=0)
        if self.value() == "no":
            return queryset.filter(boost=0)
        return queryset


class AppearanceInline(admin.TabularInline):
    model = Appearance
    readonly_fields = ("listed_date", "document", "position", "upvotes")
    fields = readonly_fields
    extra = 0
    can_delete = False
    ordering = ["-listed_date", "position"]
    show_change_link = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Appearance]:
        # The document's raw bytes can be megabytes each; the row only needs its name.
        return super().get_queryset(request).select_related("document").defer("document__raw")

    def has_add_permission(self, request: HttpRequest, obj: Paper | None = None) -> bool:
        return False


class PaperForm(ModelForm):
    github_repo = forms.URLField(max_length=500, required=False, assume_scheme="https")
    project_page = forms.URLField(max_length=500, required=False, assume_scheme="https")

    class Meta:
        model = Paper
        # The admin narrows this to the fieldsets' editable fields.
        fields = [
            "title",
            "abstract",
            "arxiv_id",
            "ai_summary",
            "github_repo",
            "project_page",
            "pinned",
            "hidden",
            "boost",
            "note",
            "title_edited",
            "abstract_edited",
        ]

    def clean_arxiv_id(self) -> str | None:
        """A curator may fill the id the lookup could not find; stored bare (no version, no "arXiv:")."""
        raw = (self.cleaned_data.get("arxiv_id") or "").strip()
        if not raw:
            return None
        arxiv_id = normalize_arxiv_id(raw)
        if arxiv_id is None:
            raise ValidationError("Not an arXiv id: write it as 2503.01234 or hep-th/9901001.")
        return arxiv_id


@admin.register(Paper)
class PaperAdmin(ScaledAdmin):
    form = PaperForm
    # A curator pasting "github.com/x/y" means https (here for the list's form, in PaperForm for the change page).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = [
        "title",
        "arxiv_id",
        "appearance_count",
        "last_seen",
        "upvotes",
        "lookup_status",
        "pinned",
        "hidden",
        "boost",
    ]
    list_display_links = ["title"]
    # Counts and dates are columns kept by ingestion, so the list costs the same few queries at any size.
    list_editable = ["pinned", "hidden", "boost"]
    list_filter = ["hidden", "pinned", BoostedFilter, SeenWithinFilter, HasIdFilter, "lookup_status"]
    # Substrings of the title, abstract or arXiv id, matched in one upper-cased text the database keeps
    # (Paper.search_text), which a trigram index answers on PostgreSQL (digest migration 0007).
    search_fields = ["search_text"]
    list_per_page = 50
    actions = ["pin", "unpin", "hide", "unhide", "look_up"]
    inlines = [AppearanceInline]
    readonly_fields = [
        "trending_score",
        "authors",
        "links",
        "published",
        "upvotes",
        "github_stars",
        "num_comments",
        "lookup_status",
        "looked_up_at",
        "lookup_note",
        "edited_fields",
        "first_seen",
        "last_seen",
        "appearance_count",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["title", "abstract", "arxiv_id", "authors", "links", "published"]}),
        (
            "From the source",
            {
                "fields": ["ai_summary", "github_repo", "github_stars", "project_page", "num_comments"],
                "description": "What the daily-papers API says about the paper. An edited TL;DR, code or project "
                "page is kept when the paper is ingested or looked up again.",
            },
        ),
        (
            "Title lookup",
            {
                "fields": ["lookup_status", "looked_up_at", "lookup_note"],
                "description": "A paper listed without an arXiv id is looked up by its exact title. Fill the id "
                "by hand when the lookup cannot find it.",
            },
        ),
        (
            "Curation",
            {
                "fields": ["pinned", "hidden", "boost", "note", "title_edited", "abstract_edited", "edited_fields"],
                "description": "An edited title or abstract is kept when the paper is ingested again; untick "
                "“edited” to let the next ingestion replace it.",
            },
        ),
        ("Trending", {"fields": ["trending_score", "upvotes", "appearance_count", "first_seen", "last_seen"]}),
        ("Record", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def save_model(self, request: HttpRequest, obj: Paper, form: ModelForm, change: bool) -> None:
        # Marking the edit is what tells ingestion (and the title lookup) to keep the curator's text.
        if "title" in form.changed_data:
            obj.title_edited = True
        if "abstract" in form.changed_data:
            obj.abstract_edited = True
        edited = [name for name in Paper.CURATED_EXTRAS if name in form.changed_data]
        if edited:
            obj.edited_fields = sorted({*(obj.edited_fields or []), *edited})
        super().save_model(request, obj, form, change)

    @admin.display(description="trending score today")
    def trending_score(self, obj: Paper) -> str:
        if obj.pk is None:
            return "—"
        if obj.hidden:
            return "Hidden: never in an edition."
        window_days, half_life = window_for(Frequency.DAILY)
        today = timezone.localdate()
        scored = score_papers(as_of=today, window_days=window_days, half_life_days=half_life)
        for rank, item in enumerate(scored, start=1):
            if item.paper.pk == obj.pk:
                parts = format_html_join(", ", "{} {}", ((name, f"{value:g}") for name, value in item.parts.items()))
                top_n = settings.NEWSLETTER_TOP_N
                verdict = "in today's top" if rank <= top_n else "outside today's top"
                return format_html(
                    "<strong>{}</strong> = {} &nbsp;·&nbsp; rank {} of {} ({} {}){}",
                    f"{item.score:g}",
                    parts,
                    rank,
                    len(scored),
                    verdict,
                    top_n,
                    ", pinned first" if item.pinned else "",
                )
        return f"Not listed in the {window_days} days to {today:%Y-%m-%d}: no score."

    def _set_flags(self, request: HttpRequest, queryset: QuerySet[Paper], message: str, **flags: bool) -> None:
        changed = papers_set_flags(queryset=queryset, **flags)
        log_changes(request, changed, message)
        self.message_user(request, f"{message}: {len(changed)} paper(s).", messages.SUCCESS)

    @admin.action(description="Pin selected papers (first in editions)", permissions=["change"])
    def pin(self, request: HttpRequest, queryset: QuerySet[Paper]) -> None:
        self._set_flags(request, queryset, "Pinned", pinned=True)

    @admin.action(description="Unpin selected papers", permissions=["change"])
    def unpin(self, request: HttpRequest, queryset: QuerySet[Paper]) -> None:
        self._set_flags(request, queryset, "Unpinned", pinned=False)

    @admin.action(description="Hide selected papers (never in editions)", permissions=["change"])
    def hide(self, request: HttpRequest, queryset: QuerySet[Paper]) -> None:
        self._set_flags(request, queryset, "Hidden", hidden=True)

    @admin.action(description="Unhide selected papers", permissions=["change"])
    def unhide(self, request: HttpRequest, queryset: QuerySet[Paper]) -> None:
        self._set_flags(request, queryset, "Unhidden", hidden=False)

    @admin.action(description="Look up selected papers without an arXiv id now", permissions=["change"])
    def look_up(self, request: HttpRequest, queryset: QuerySet[Paper]) -> None:
        if not lookups_enabled():
            self.message_user(request, "Title lookups are off: ARXIV_API_URL and HF_API_URL are empty.", messages.ERROR)
            return
        unresolved = list(queryset.filter(arxiv_id__isnull=True, hidden=False).values_list("pk", "title"))
        # Asked for by a person: an earlier miss is forgotten rather than answered from the cache.
        lookup_forget(titles=[title for _, title in unresolved])
        enrichment_enqueue(paper_ids=[pk for pk, _ in unresolved])
        skipped = queryset.count() - len(unresolved)
        note = f"; {skipped} skipped (already have an id, or hidden)" if skipped else ""
        self.message_user(request, f"Queued {len(unresolved)} paper(s) for a title lookup{note}.", messages.SUCCESS)
