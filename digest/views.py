"""The web archive: thin views over digest.publishing and digest.rendering."""

from __future__ import annotations

from datetime import date

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_safe

from digest.publishing import public_edition, public_editions
from digest.rendering import edition_archive_html, edition_subject

EDITIONS_PER_PAGE = 30


@require_safe
def edition_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(public_editions(), EDITIONS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "digest/edition_list.html", {"page": page, "editions": page.object_list})


@require_safe
def edition_detail(request: HttpRequest, day: str, frequency: str) -> HttpResponse:
    try:
        parsed = date.fromisoformat(day)
    except ValueError as exc:
        raise Http404("No edition for that date.") from exc
    edition = public_edition(day=parsed, frequency=frequency)
    if edition is None:
        raise Http404("No edition for that date.")
    return render(
        request,
        "digest/edition_detail.html",
        {
            "edition": edition,
            "subject": edition_subject(edition),
            # Rendered by digest.rendering from escaped templates (or its stored snapshot), never from raw input.
            "content": mark_safe(edition_archive_html(edition)),
        },
    )
