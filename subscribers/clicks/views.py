"""``/r/<token>/<number>/``: record the click, answer 302 to the link the edition's table holds for ``number``.

The view queries nothing in the common case (the token is checked by its signature, the link table comes from
memory or the cache, the click goes to a Redis stream). Anything it cannot read gets a plain page and no
``Location``: a token can never lead outside its edition's own links.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from subscribers.clicks.agents import classify_agent
from subscribers.clicks.apply import ClickEvent
from subscribers.clicks.links import link_resolve
from subscribers.clicks.recording import click_record
from subscribers.clicks.tokens import ClickTokenError, read_click_token


def _no_trace(response: HttpResponse) -> HttpResponse:
    # Never cached (each click should reach us), never indexed, and the token never leaks to the target site.
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_http_methods(["GET", "HEAD"])
def click_redirect(request: HttpRequest, token: str, number: int) -> HttpResponse:
    try:
        claim = read_click_token(token)
    except ClickTokenError:
        claim = None
    link = link_resolve(edition_id=claim.edition_id, number=number) if claim else None
    if claim is None or link is None:
        return _no_trace(render(request, "subscribers/click_invalid.html", status=404))
    if settings.TRACK_CLICKS:
        click_record(
            ClickEvent(
                subscriber_id=claim.subscriber_id,
                edition_id=claim.edition_id,
                paper_id=link.paper_id,
                kind=link.kind,
                at=timezone.now(),
                head=request.method == "HEAD",
                agent=classify_agent(request.headers.get("User-Agent", "")),
            )
        )
    return _no_trace(HttpResponseRedirect(link.url))
