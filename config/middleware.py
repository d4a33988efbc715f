"""Refuse NUL characters in request parameters before any view sees them.

PostgreSQL text cannot hold a NUL (U+0000): a query with one in a parameter fails inside the driver, so a filter,
a search or a form value carrying ``%00`` would be a 500 wherever it reaches the database (admin changelists, the
public pages, anything added later). No page of this site has a use for one, so the request is answered 400 with
the parameter's name here, once, for every URL, instead of in each view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict

NUL = "\x00"
# Names are echoed in the answer; a generated name can be long, and a prefix is enough to find it.
_NAME_ECHO = 40

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def first_nul_parameter(params: QueryDict) -> str | None:
    """The name of the first parameter whose name or any value holds a NUL, or ``None``."""
    for name, values in params.lists():
        if NUL in name or any(NUL in value for value in values):
            return name
    return None


def _refusal(where: str, name: str) -> HttpResponse:
    shown = name.replace(NUL, "\\x00")
    if len(shown) > _NAME_ECHO:
        shown = shown[:_NAME_ECHO] + "…"
    text = (
        f"Bad request: the {where} parameter {shown!r} contains a NUL character (\\x00), which no page of this "
        "site accepts. Remove it and try again.\n"
    )
    return HttpResponseBadRequest(text, content_type="text/plain; charset=utf-8")


class RejectNulMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # A cookie this site never set (another app on the domain, a hand-edited one) is ignored rather than
        # refused: a 400 on every page would lock the visitor out until they found and cleared it. The session
        # cookie is looked up in the database, so one with a NUL would otherwise be a 500.
        for cookie in [name for name, value in request.COOKIES.items() if NUL in name or NUL in value]:
            del request.COOKIES[cookie]
        name = first_nul_parameter(request.GET)
        if name is not None:
            return _refusal("query", name)
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        """Form bodies are checked here, where the view is known.

        Parsing a multipart body consumes the request stream, after which ``request.body`` is gone. CSRF-checked
        views have their body parsed by the CSRF middleware anyway; a CSRF-exempt view (a webhook that verifies a
        signature over the raw body) keeps its multipart stream untouched. URL-encoded bodies are read through
        ``request.body``, which stays readable, so they are checked for every view.
        """
        if request.method != "POST" or request.content_type not in _FORM_TYPES:
            return None
        if request.content_type == "multipart/form-data" and getattr(view, "csrf_exempt", False):
            return None
        name = first_nul_parameter(request.POST)
        if name is not None:
            return _refusal("form", name)
        return None
