"""Ingestion in admin: upload digest files, Sources with "fetch now", documents with errors and "re-parse"."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from config.admin_base import GuardedModelAdmin
from config.dates import RangedDateField
from digest.admin.audit import log_additions, log_changes
from digest.admin.paging import ScaledAdmin
from digest.fetch import fetch_source
from digest.ingest import IngestResult, IngestStatus, ingest_bytes, reparse_document
from digest.models import DigestDocument, DocumentFormat, Source


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: object, initial: object = None) -> list:
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


class UploadForm(forms.Form):
    # An empty file is not a form error: ingestion stores it as a failed document with its reason, like the command.
    files = MultipleFileField(  # type: ignore[assignment]  # django-stubs types Form.files as the request's files
        allow_empty_file=True, help_text="One or more digest pages: text, HTML, daily-papers JSON, RSS or Atom."
    )
    format = forms.ChoiceField(choices=DocumentFormat.choices, initial=DocumentFormat.AUTO)
    listed_date = RangedDateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The day the pages list, when they do not say (and the year of a bare “Mar 14”).",
    )
    source = forms.ModelChoiceField(queryset=Source.objects.all(), required=False)


def _report(model_admin: admin.ModelAdmin, request: HttpRequest, results: list[IngestResult]) -> None:
    """One message per document, as `manage.py ingest` prints one line per document."""
    for result in results:
        level = messages.ERROR if result.failed else messages.SUCCESS
        model_admin.message_user(request, result.describe(), level)


@admin.register(Source)
class SourceAdmin(GuardedModelAdmin):
    list_display = ["name", "url", "format", "enabled", "last_fetched_at", "last_status"]
    list_filter = ["enabled", "format"]
    search_fields = ["name", "url"]
    readonly_fields = ["etag", "last_modified", "last_fetched_at", "last_status", "last_error", "created_at"]
    actions = ["fetch_now"]

    @admin.action(description="Fetch selected sources now", permissions=["change"])
    def fetch_now(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        results = []
        for source in queryset:
            result = fetch_source(source)
            if result is None:
                self.message_user(request, f"{source}: not modified since the last fetch.", messages.INFO)
                continue
            results.append(result)
        _report(self, request, results)
        log_changes(request, queryset, "Fetched now")


@admin.register(DigestDocument)
class DigestDocumentAdmin(ScaledAdmin):
    list_display = ["__str__", "source", "listed_date", "format", "status", "paper_count", "size", "short_error"]
    list_select_related = ["source"]
    list_filter = ["status", "format", "source"]
    search_fields = ["origin", "sha256", "error"]
    date_hierarchy = "created_at"
    actions = ["reparse"]
    change_list_template = "admin/digest/digestdocument/change_list.html"
    fields = [
        "origin",
        "source",
        "format",
        "listed_date",
        "status",
        "error",
        "paper_count",
        "size",
        "sha256",
        "created_at",
        "parsed_at",
    ]
    readonly_fields = [str(name) for name in fields]

    def get_queryset(self, request: HttpRequest) -> QuerySet[DigestDocument]:
        # Raw pages can be megabytes each; no admin page shows them, so never load them here.
        return super().get_queryset(request).defer("raw")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Documents come in through the upload page (ingest_bytes), never the generic add form.
        return False

    def has_upload_permission(self, request: HttpRequest) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.add_{opts.model_name}")

    @admin.display(description="error")
    def short_error(self, obj: DigestDocument) -> str:
        if not obj.error:
            return ""
        text = obj.error if len(obj.error) <= 120 else obj.error[:119] + "…"
        return format_html('<span title="{}">{}</span>', obj.error, text)

    @admin.action(description="Re-parse selected documents from their stored bytes", permissions=["change"])
    def reparse(self, request: HttpRequest, queryset: QuerySet[DigestDocument]) -> None:
        results = [reparse_document(document) for document in queryset]
        _report(self, request, results)
        log_changes(request, queryset, "Re-parsed")

    def get_urls(self) -> list:
        upload = path("upload/", self.admin_site.admin_view(self.upload_view), name="digest_digestdocument_upload")
        return [upload, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra = {"has_upload_permission": self.has_upload_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_upload_permission(request):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            results = []
            for upload in form.cleaned_data["files"]:
                # The same function `manage.py ingest` calls, so a file behaves the same from either door.
                # Reading one byte past the cap is enough for ingest_bytes to refuse an oversized file with its reason.
                results.append(
                    ingest_bytes(
                        upload.read(settings.INGEST_MAX_BYTES + 1),
                        origin=f"upload:{upload.name}",
                        format=form.cleaned_data["format"],
                        listed_date=form.cleaned_data["listed_date"],
                        source=form.cleaned_data["source"],
                    )
                )
            _report(self, request, results)
            stored = [r.document for r in results if r.document is not None and r.status != IngestStatus.UNCHANGED]
            log_additions(request, stored, "Uploaded in admin")
            return HttpResponseRedirect(reverse("admin:digest_digestdocument_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Upload digest files",
            "form": form,
        }
        return TemplateResponse(request, "admin/digest/digestdocument/upload.html", context)
