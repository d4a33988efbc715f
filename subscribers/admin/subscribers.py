"""Subscribers in admin: find and filter them, import and export CSV, unsubscribe or re-confirm in bulk; the
suppression list; deliveries and tracking events (read-only: they are written by the sender and the webhooks).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

from anymail.signals import EventType
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from digest.admin.audit import log_additions, log_changes
from digest.admin.paging import ScaledAdmin
from subscribers import csv_io
from subscribers.curation import subscribers_resend_confirmation, subscribers_unsubscribe
from subscribers.models import Delivery, Subscriber, Suppression, TrackingEvent
from subscribers.services import email_hash, normalize_email, subscriber_delete, subscriber_suppress

EXPORT_PERMISSION = "subscribers.export_subscriber"


class KeywordFilter(admin.SimpleListFilter):
    """Subscribers with a keyword containing the typed text (keywords are free text, so no fixed choices)."""

    title = "keyword"
    parameter_name = "keyword"
    template = "admin/subscribers/input_filter.html"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return []

    def has_output(self) -> bool:
        return True

    def choices(self, changelist: Any) -> list[dict[str, Any]]:  # type: ignore[override]
        others = [(k, v) for k, v in changelist.get_filters_params().items() if k != self.parameter_name]
        return [
            {
                "value": self.value() or "",
                "parameter_name": self.parameter_name,
                "other_params": [(k, v[-1] if isinstance(v, list) else v) for k, v in others],
                "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            }
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> QuerySet[Subscriber]:
        term = (self.value() or "").strip()
        if not term:
            return queryset
        # Matched in the JSON text of the list, as that text is stored: PostgreSQL keeps non-ASCII characters as
        # they are, SQLite as \\u escapes (Django's JSON encoder). Escaping quotes keeps the term inside one value.
        encoded = json.dumps(term, ensure_ascii=connection.vendor != "postgresql")[1:-1]
        return queryset.filter(keywords__icontains=encoded)


class ImportForm(forms.Form):
    file = forms.FileField(help_text="UTF-8 CSV with a header row; only the email column is required.")
    consent_source = forms.CharField(
        max_length=200,
        required=False,
        help_text="Where these addresses were collected (kept as each row's consent source unless it says).",
    )
    consent_text = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What rows with a consent_at date agreed to, unless the row says. Rows without a consent date "
        "arrive pending and get a confirmation email.",
    )


@admin.register(Subscriber)
class SubscriberAdmin(ScaledAdmin):
    list_display = ["address", "status", "frequency", "keyword_list", "created_at", "confirmed_at"]
    list_filter = ["status", "frequency", KeywordFilter]
    # A substring of the address, answered by a trigram index on PostgreSQL (migration 0008).
    search_fields = ["email"]
    list_per_page = 100
    # Orders an index can give, over a million rows: by address (the case-insensitive unique index) or by date.
    sortable_by = ["address", "created_at", "confirmed_at"]
    actions = ["unsubscribe", "resend_confirmation", "export_csv"]
    change_list_template = "admin/subscribers/subscriber/change_list.html"
    fields = [
        "email",
        "status",
        "frequency",
        "keywords",
        "time_zone",
        "created_at",
        "status_changed_at",
        "confirmed_at",
        "confirmation_sent_at",
        "unsubscribed_at",
        "unsubscribed_via",
        "bounced_at",
        "complained_at",
        "consent_at",
        "consent_source",
        "consent_text",
    ]
    # Status moves only through the services (confirm, unsubscribe, suppress), which keep the timestamps right.
    readonly_fields = [str(f) for f in fields if f not in ("frequency", "keywords", "time_zone")]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A hand-typed subscriber would skip double opt-in; staff add people through the CSV import instead.
        return False

    def has_import_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("subscribers.add_subscriber")

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(EXPORT_PERMISSION)

    def delete_model(self, request: HttpRequest, obj: Subscriber) -> None:
        subscriber_delete(subscriber=obj)  # keeps the suppression hash, so the address is never mailed again

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        for subscriber in queryset:
            subscriber_delete(subscriber=subscriber)

    @admin.display(description="email", ordering=Lower("email"))
    def address(self, obj: Subscriber) -> str:
        return obj.email

    @admin.display(description="keywords")
    def keyword_list(self, obj: Subscriber) -> str:
        return ", ".join(obj.keywords or [])[:80]

    @admin.action(description="Unsubscribe selected subscribers", permissions=["change"])
    def unsubscribe(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        changed = subscribers_unsubscribe(queryset=queryset, via="admin")
        log_changes(request, changed, "Unsubscribed by staff")
        self.message_user(request, f"Unsubscribed {len(changed)} subscriber(s).", messages.SUCCESS)

    @admin.action(description="Resend the confirmation email (pending only)", permissions=["change"])
    def resend_confirmation(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        sent = subscribers_resend_confirmation(queryset=queryset)
        log_changes(request, sent, "Confirmation email resent")
        skipped = queryset.count() - len(sent)
        note = f"; {skipped} skipped (not pending, or sent one within the hour)" if skipped else ""
        self.message_user(request, f"Confirmation queued for {len(sent)} subscriber(s){note}.", messages.SUCCESS)

    @admin.action(description="Export selected subscribers as CSV", permissions=["export"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> HttpResponseBase:
        return self._export_response(queryset)

    @staticmethod
    def _export_response(queryset: QuerySet[Subscriber]) -> StreamingHttpResponse:
        response = StreamingHttpResponse(csv_io.export_rows(queryset=queryset), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="subscribers-{timezone.now():%Y%m%d-%H%M}.csv"'
        return response

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(self.import_view), name="subscribers_subscriber_import"),
            path("export/", wrap(self.export_view), name="subscribers_subscriber_export"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra = {
            "has_import_permission": self.has_import_permission(request),
            "has_export_permission": self.has_export_permission(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra)

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        """Everything the changelist shows with its current search and filters, as CSV."""
        if not self.has_export_permission(request):
            raise PermissionDenied
        return self.refusing_bad_filters(request, lambda: self._export_filtered(request))

    def _export_filtered(self, request: HttpRequest) -> StreamingHttpResponse:
        queryset = self.get_changelist_instance(request).get_queryset(request)
        # The rows stream after this view has returned, too late to refuse a filter the database rejects:
        # one cheap query now lets refusing_bad_filters answer with a message instead of a cut-off file.
        queryset.exists()
        return self._export_response(queryset)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        report = None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            stream = io.TextIOWrapper(upload.file, encoding="utf-8-sig", errors="strict", newline="")
            try:
                report = csv_io.import_subscribers(
                    stream=stream,
                    consent_source=form.cleaned_data["consent_source"] or f"import: {upload.name}",
                    consent_text=form.cleaned_data["consent_text"],
                )
            except (csv_io.ImportFileError, UnicodeDecodeError) as exc:
                form.add_error("file", f"Nothing imported: {exc}")
            else:
                log_additions(request, Subscriber.objects.filter(pk__in=report.created), "Imported from CSV")
                self.message_user(request, report.summary(), messages.WARNING if report.errors else messages.SUCCESS)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Import subscribers from CSV",
            "form": form,
            "report": report,
            "columns": csv_io.IMPORT_COLUMNS,
        }
        return TemplateResponse(request, "admin/subscribers/subscriber/import.html", context)


class SuppressionForm(forms.ModelForm):
    """Staff add an address; only its hash is stored, like every other suppression."""

    email = forms.CharField(max_length=254)

    class Meta:
        model = Suppression
        fields = ["reason"]

    def clean_email(self) -> str:
        raw = self.cleaned_data["email"]
        try:
            return normalize_email(raw)
        except ValidationError:
            return raw.strip().lower()  # a malformed address can still be blocked


@admin.register(Suppression)
class SuppressionAdmin(ScaledAdmin):
    list_display = ["email_hash", "reason", "created_at"]
    list_filter = ["reason"]
    search_fields = ["email_hash"]
    form = SuppressionForm

    def get_fields(self, request: HttpRequest, obj: Suppression | None = None) -> Sequence[str]:  # type: ignore[override]
        return ["email", "reason"] if obj is None else ["email_hash", "reason", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Suppression | None = None) -> list[str]:
        return [] if obj is None else ["email_hash", "reason", "created_at"]

    def get_form(  # type: ignore[override]
        self, request: HttpRequest, obj: Suppression | None = None, **kwargs: Any
    ) -> type[forms.ModelForm]:
        if obj is not None:
            kwargs["form"] = forms.ModelForm
        return super().get_form(request, obj, **kwargs)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Suppression], search_term: str
    ) -> tuple[QuerySet[Suppression], bool]:
        # Addresses are stored hashed: searching for one means hashing it.
        if "@" in search_term:
            try:
                digest = email_hash(normalize_email(search_term))
            except ValidationError:
                digest = email_hash(search_term)
            return queryset.filter(email_hash=digest), False
        return super().get_search_results(request, queryset, search_term)

    def save_model(self, request: HttpRequest, obj: Suppression, form: forms.ModelForm, change: bool) -> None:
        if change:
            return super().save_model(request, obj, form, change)
        # Through the service, so a subscriber with that address is moved out of the list as well.
        subscriber_suppress(email=form.cleaned_data["email"], reason=form.cleaned_data["reason"])
        saved = Suppression.objects.get(email_hash=email_hash(form.cleaned_data["email"]))
        obj.pk, obj.email_hash, obj.reason, obj.created_at = saved.pk, saved.email_hash, saved.reason, saved.created_at
        return None

    def has_change_permission(self, request: HttpRequest, obj: Suppression | None = None) -> bool:
        return False  # a suppression is added or removed, never edited


class ReadOnlyAdmin(ScaledAdmin):
    """Rows written by the sender and the webhooks: staff look, never edit."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["edition", "subscriber", "status", "attempts", "esp_message_id", "sent_at", "short_error"]
    list_select_related = ["edition", "subscriber"]
    list_filter = ["status", "edition"]
    search_fields = ["subscriber__email", "esp_message_id"]
    search_help_text = "A full ESP message id, or part of an address."
    # Newest edition first, in the order of the (edition, subscriber) unique index: with millions of rows, only an
    # order an index gives is fast, so the column headers do not re-sort.
    ordering = ["-edition_id", "-subscriber_id"]
    sortable_by = ()

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Delivery], search_term: str
    ) -> tuple[QuerySet[Delivery], bool]:
        # Django's search would OR the two fields across the join, which no index can answer: a scan of every
        # delivery. A message id is matched whole (its index), anything else as part of the address (the trigram
        # index on subscribers' emails).
        term = search_term.strip()
        if not term:
            return queryset, False
        by_message = queryset.filter(esp_message_id=term)
        if by_message.exists():
            return by_message, False
        return queryset.filter(subscriber__in=Subscriber.objects.filter(email__icontains=term)), False

    @admin.display(description="last error")
    def short_error(self, obj: Delivery) -> str:
        return obj.last_error[:120]


class EventTypeFilter(admin.SimpleListFilter):
    """Anymail's event types as fixed choices: Django's default would read the distinct values of every event."""

    title = "event type"
    parameter_name = "event_type"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(value, value.replace("_", " ")) for name, value in vars(EventType).items() if name.isupper()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[TrackingEvent]) -> QuerySet[TrackingEvent]:
        return queryset.filter(event_type=self.value()) if self.value() else queryset


@admin.register(TrackingEvent)
class TrackingEventAdmin(ReadOnlyAdmin):
    list_display = ["event_type", "recipient", "esp_message_id", "received_at"]
    # A date filter rather than a date hierarchy, whose links need the distinct dates of every event.
    list_filter = [EventTypeFilter, "received_at"]
    # Part of the address (a trigram index on PostgreSQL), or a whole message or event id (their indexes).
    search_fields = ["recipient", "esp_message_id__exact", "event_id__exact"]
    search_help_text = "Part of an address, or a full message or event id."
