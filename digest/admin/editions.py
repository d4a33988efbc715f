"""Editions in admin: build, reorder, rebuild, approve / hold / reopen / cancel.

Everything here is about the edition itself. What needs readers too (the delivery figures, "send a test to me", the
preview as a given reader, "send now") is added by ``subscribers.admin.editions``, which registers a subclass of
``EditionAdmin`` in its place: this module never imports ``subscribers``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html_join

from config.admin_base import GuardedModelAdmin
from config.dates import RangedDateField
from digest import curation, edition_states
from digest.models import Edition, EditionEntry, Frequency
from digest.trending import EditionFrozenError, edition_build

# A move's name -> (the permission it needs, its handler). A handler returns the message logged on the edition.
MoveHandler = Callable[[HttpRequest, Edition], str]
Moves = dict[str, tuple[str, MoveHandler]]
# (move, label, button style, shown): the buttons above the edition's form, in the order they appear.
Button = tuple[str, str, str, bool]


def _parts_html(parts: dict[str, float]) -> str:
    if not parts:
        return "—"
    return format_html_join(", ", "{} {}", ((name, f"{value:g}") for name, value in parts.items()))


class EntryInline(admin.TabularInline):
    """The edition's entries as they stand: move them (position) or remove them; the paper is fixed per row."""

    model = EditionEntry
    fields = ["position", "paper", "paper_flags", "score", "parts"]
    readonly_fields = ["paper", "paper_flags", "score", "parts"]
    extra = 0
    verbose_name = "entry"
    verbose_name_plural = "entries (change a position to move a paper; positions are renumbered on save)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[EditionEntry]:
        # The paper is shown read-only from this join: a select or raw-id widget per row would query per row.
        return super().get_queryset(request).select_related("paper").order_by("position")

    def has_add_permission(self, request: HttpRequest, obj: Edition | None = None) -> bool:
        return False  # new papers go through AddEntryInline

    def has_change_permission(self, request: HttpRequest, obj: Edition | None = None) -> bool:
        return super().has_change_permission(request, obj) and (obj is None or obj.status in edition_states.EDITABLE)

    def has_delete_permission(self, request: HttpRequest, obj: Edition | None = None) -> bool:
        return super().has_delete_permission(request, obj) and (obj is None or obj.status in edition_states.EDITABLE)

    @admin.display(description="curator flags")
    def paper_flags(self, entry: EditionEntry) -> str:
        flags = [name for name, on in (("pinned", entry.pinned), ("hidden since", entry.paper.hidden)) if on]
        return ", ".join(flags) or "—"

    @admin.display(description="score parts")
    def parts(self, entry: EditionEntry) -> str:
        return _parts_html(entry.score_parts)


class AddEntryForm(forms.ModelForm):
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        paper = cleaned.get("paper")
        # The (edition, paper) constraint is not checked by the inline form, since "edition" is not one of its
        # fields: check it here so a duplicate is a form error, not a database error.
        edition_id = self.instance.edition_id
        if (
            paper is not None
            and edition_id
            and EditionEntry.objects.filter(edition_id=edition_id, paper=paper).exists()
        ):
            self.add_error("paper", "This paper is already in the edition.")
        return cleaned


class AddEntryInline(admin.TabularInline):
    """Blank rows to add papers by id (the magnifier opens a searchable paper list)."""

    model = EditionEntry
    form = AddEntryForm
    fields = ["paper", "position"]
    raw_id_fields = ["paper"]
    extra = 1
    verbose_name = "paper to add"
    verbose_name_plural = "add papers (position: where it goes; leave empty to add at the end)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[EditionEntry]:
        return super().get_queryset(request).none()

    def get_formset(self, request: HttpRequest, obj: Edition | None = None, **kwargs: Any) -> type[BaseInlineFormSet]:
        formset = super().get_formset(request, obj, **kwargs)
        formset.form.base_fields["position"].required = False
        formset.adds_entries = True  # type: ignore[attr-defined]  # tells EditionAdmin.save_formset these rows are new papers
        return formset

    def has_add_permission(self, request: HttpRequest, obj: Edition | None = None) -> bool:
        return super().has_add_permission(request, obj) and obj is not None and obj.status in edition_states.EDITABLE

    def has_change_permission(self, request: HttpRequest, obj: Edition | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Edition | None = None) -> bool:
        return False


class BuildForm(forms.Form):
    date = RangedDateField(widget=forms.DateInput(attrs={"type": "date"}))
    frequency = forms.ChoiceField(choices=Frequency.choices, initial=Frequency.DAILY)


def count_of(model_qs: QuerySet, field_name: str = "edition") -> Coalesce:
    """A per-edition count as a subquery: joining two related tables in one annotation would multiply rows."""
    counted = model_qs.filter(**{field_name: OuterRef("pk")}).order_by().values(field_name)
    return Coalesce(Subquery(counted.annotate(n=Count("pk")).values("n"), output_field=IntegerField()), 0)


@admin.register(Edition)
class EditionAdmin(GuardedModelAdmin):
    list_display = ["__str__", "status", "subject", "entry_count", "recipient_count"]
    list_filter = ["status", "frequency"]
    list_select_related = ["approved_by"]
    date_hierarchy = "date"
    search_fields = ["subject", "intro"]
    inlines = [EntryInline, AddEntryInline]
    change_form_template = "admin/digest/edition/change_form.html"
    change_list_template = "admin/digest/edition/change_list.html"
    # Buttons that ask "are you sure?" first: what cannot be taken back.
    confirm_moves: tuple[str, ...] = ("cancel",)
    readonly_fields = [
        "date",
        "frequency",
        "status",
        "built_at",
        "approved_at",
        "approved_by",
        "send_started_at",
        "sent_at",
        "recipient_count",
    ]
    fieldsets = [
        (None, {"fields": ["date", "frequency", "status", "subject", "intro"]}),
        (
            "History",
            {
                "fields": ["built_at", "approved_at", "approved_by", "send_started_at", "sent_at", "recipient_count"],
                "classes": ["collapse"],
            },
        ),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Edition]:
        return super().get_queryset(request).annotate(n_entries=count_of(EditionEntry.objects.all()))

    def get_readonly_fields(self, request: HttpRequest, obj: Edition | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status not in edition_states.EDITABLE:
            fields += ["subject", "intro"]  # what was approved or sent stays as it was
        return fields

    @admin.display(description="entries", ordering="n_entries")
    def entry_count(self, obj: Edition) -> int:
        return int(getattr(obj, "n_entries", 0))  # annotated by get_queryset

    # --- Saving: entries are renumbered after a curator moved, added or removed some ----------------------

    def save_formset(
        self, request: HttpRequest, form: forms.ModelForm, formset: BaseInlineFormSet, change: bool
    ) -> None:
        if formset.model is not EditionEntry:
            return super().save_formset(request, form, formset, change)
        # Where the curator asked entries to go, by entry id; everything else keeps its order around them.
        placed: dict[int, int] = form.instance.__dict__.setdefault("_placed_entries", {})
        if getattr(formset, "adds_entries", False):
            asked = {}
            end = 10**6  # no position: after everything, in the order the rows were filled in
            for offset, entry_form in enumerate(f for f in formset.forms if f.has_changed()):
                position = entry_form.cleaned_data.get("position")
                if position is None:
                    entry_form.instance.position = end + offset
                else:
                    asked[entry_form] = position
            super().save_formset(request, form, formset, change)
            placed.update({entry_form.instance.pk: position for entry_form, position in asked.items()})
            return None
        for entry_form in formset.forms:
            if "position" in entry_form.changed_data and entry_form.cleaned_data.get("position") is not None:
                placed[entry_form.instance.pk] = entry_form.cleaned_data["position"]
        return super().save_formset(request, form, formset, change)

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: list[BaseInlineFormSet], change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)
        placed = form.instance.__dict__.pop("_placed_entries", {})
        curation.edition_renumber(edition=form.instance, placed=placed)

    # --- Extra pages and buttons ---------------------------------------------------------------------------

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path("build/", wrap(self.build_view), name="digest_edition_build"),
            path("<int:object_id>/do/<str:move>/", wrap(self.move_view), name="digest_edition_move"),
            *super().get_urls(),
        ]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        # An edition is made by building it for a date; an empty hand-made one would only confuse the send job.
        return HttpResponseRedirect(reverse("admin:digest_edition_build"))

    def build_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        tomorrow = timezone.localdate() + timedelta(days=1)
        form = BuildForm(request.POST or None, initial={"date": tomorrow})
        if request.method == "POST" and form.is_valid():
            edition = self._build(request, date=form.cleaned_data["date"], frequency=form.cleaned_data["frequency"])
            if edition is not None:
                return HttpResponseRedirect(reverse("admin:digest_edition_change", args=[edition.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Build an edition",
            "form": form,
        }
        return TemplateResponse(request, "admin/digest/edition/build.html", context)

    def _build(self, request: HttpRequest, *, date: Any, frequency: str) -> Edition | None:
        existed = Edition.objects.filter(date=date, frequency=frequency).exists()
        try:
            edition = edition_build(date=date, frequency=frequency)
        except EditionFrozenError as exc:
            self.message_user(request, f"{exc} Reopen it as a draft to rebuild it.", messages.ERROR)
            return exc.edition
        count = edition.entries.count()
        if existed:
            self.log_change(request, edition, f"Rebuilt: {count} entries")
        else:
            self.log_addition(request, edition, f"Built: {count} entries")
        level = messages.SUCCESS if count else messages.WARNING
        self.message_user(request, f"{edition}: {count} entries from the trending list.", level)
        return edition

    def get_moves(self) -> Moves:
        return {
            "rebuild": ("change", self._do_rebuild),
            "approve": (
                "change",
                lambda r, e: self._state(r, e, edition_states.edition_approve, "Approved", user=r.user),
            ),
            "hold": ("change", lambda r, e: self._state(r, e, edition_states.edition_hold, "Held")),
            "cancel": ("change", lambda r, e: self._state(r, e, edition_states.edition_cancel, "Cancelled")),
            "reopen": ("change", lambda r, e: self._state(r, e, edition_states.edition_reopen, "Reopened as a draft")),
        }

    @staticmethod
    def _state(request: HttpRequest, edition: Edition, move: Callable[..., Edition], verb: str, **kw: Any) -> str:
        move(edition=edition, **kw)
        return verb

    def _do_rebuild(self, request: HttpRequest, edition: Edition) -> str:
        self._build(request, date=edition.date, frequency=edition.frequency)
        return ""  # _build logged and reported it

    def move_view(self, request: HttpRequest, object_id: int, move: str) -> HttpResponse:
        edition = get_object_or_404(Edition, pk=object_id)
        change_url = reverse("admin:digest_edition_change", args=[edition.pk])
        if request.method != "POST":
            return HttpResponseRedirect(change_url)
        moves = self.get_moves()
        if move not in moves:
            return HttpResponseRedirect(change_url)
        permission, handler = moves[move]
        allowed = self.has_change_permission(request, edition) if permission == "change" else True
        if not (allowed and self.has_view_or_change_permission(request, edition)):
            raise PermissionDenied
        try:
            message = handler(request, edition)
        except edition_states.EditionStateError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            if message:
                self.log_change(request, edition, message)
                self.message_user(request, f"{edition}: {message}.", messages.SUCCESS)
        return HttpResponseRedirect(change_url)

    # --- The change page: the curation panel above the form --------------------------------------------------

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        edition = self.get_object(request, object_id)
        extra: dict[str, Any] = dict(extra_context or {})
        if edition is not None:
            extra.update(self.panel_context(request, edition))
        return super().change_view(request, object_id, form_url, extra)

    def panel_context(self, request: HttpRequest, edition: Edition) -> dict[str, Any]:
        """What the panel above the form shows; a subclass adds its own parts to it."""
        buttons = self.get_buttons(request, edition)
        return {
            "moves": [(move, label, style) for move, label, style, shown in buttons if shown],
            "confirm_moves": self.confirm_moves,
            "approval_required": settings.NEWSLETTER_APPROVAL_REQUIRED,
        }

    def get_buttons(self, request: HttpRequest, edition: Edition) -> list[Button]:
        can_change = self.has_change_permission(request, edition)
        status = edition.status
        return [
            ("rebuild", "Rebuild from the trending list", "", can_change and status in edition_states.EDITABLE),
            ("approve", "Approve", "default", can_change and status in edition_states.APPROVABLE),
            ("hold", "Hold", "", can_change and status in edition_states.HOLDABLE),
            ("reopen", "Reopen as draft", "", can_change and status in edition_states.REOPENABLE),
            ("cancel", "Cancel edition", "deletelink", can_change and status in edition_states.CANCELLABLE),
        ]
