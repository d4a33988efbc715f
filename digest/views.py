"""The web archive: thin views over digest.publishing and digest.rendering."""

from __future__ import annotations

from datetime import date

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_safe

from digest.models import Edition
from digest.publishing import public_edition, public_editions
from digest.rendering import archive_url, edition_archive_page, edition_subject
from digest.trending import default_subject

EDITIONS_PER_PAGE = 30


@require_safe
def edition_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(public_editions(), EDITIONS_PER_PAGE).get_page(request.GET.get("page"))
    # (edition, headline): the date is the link; a curator's own subject is worth showing beside it, the default one
    # would only repeat the date.
    editions = [(edition, _headline(edition)) for edition in page.object_list]
    return render(request, "digest/edition_list.html", {"page": page, "editions": editions})


def _headline(edition: Edition) -> str:
    subject = edition_subject(edition)
    return "" if subject == default_subject(date=edition.date, frequency=edition.frequency) else subject


@require_safe
def edition_detail(request: HttpRequest, day: str, frequency: str) -> HttpResponse:
    try:
        parsed = date.fromisoformat(day)
    except ValueError as exc:
        raise Http404("No edition for that date.") from exc
    edition = public_edition(day=parsed, frequency=frequency)
    if edition is None:
        raise Http404("No edition for that date.")
    page = edition_archive_page(edition)
    return render(
        request,
        "digest/edition_detail.html",
        {
            "edition": edition,
            "subject": edition_subject(edition),
            "dateline": page.dateline or f"{edition.date:%A} {edition.date.day} {edition.date:%B %Y}",
            "summary": page.summary,
            "canonical_url": archive_url(edition),
            # Cut by digest.rendering from escaped templates (or its stored snapshot), never from raw input.
            "content": mark_safe(page.content),
        },
    )
