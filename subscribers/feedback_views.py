"""The pages behind "More like this" / "Less like this", and undoing a vote from the preferences page.

Mail scanners and link previewers follow every GET, so a GET only shows the paper with the reader's choice
selected and one button; the vote is recorded by that button's POST (CSRF-protected like every form here).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from digest.models import Paper
from digest.rendering.tex import readable
from subscribers.feedback import LINK_MAX_AGE, Choice, vote_record, vote_undo
from subscribers.models import Subscriber, Vote
from subscribers.tokens import (
    Purpose,
    TokenError,
    check_feedback_token,
    claim_matches,
    make_token,
    read_feedback_token,
    read_token,
)
from subscribers.views import _gone, _invalid_link, _private


def _feedback_subject(token: str) -> tuple[Subscriber, Paper] | None:
    """The reader and paper a genuine, current feedback token names; None when the paper has since gone.

    Raises ``TokenError`` for forged, tampered, expired or rotated tokens, and for readers who were erased: the
    token's key died with them, so such a link cannot be told from a forged one (and says nothing about who exists).
    """
    claim = read_feedback_token(token)
    subscriber = Subscriber.objects.filter(pk=claim.subscriber_id).first()
    if subscriber is None:
        raise TokenError("no such reader")
    check_feedback_token(claim, token_key=subscriber.token_key, max_age=LINK_MAX_AGE)
    paper = Paper.objects.filter(pk=claim.paper_id).first()
    return None if paper is None else (subscriber, paper)


@require_http_methods(["GET", "POST"])
def feedback(request: HttpRequest, token: str, choice: str) -> HttpResponse:
    try:
        found = _feedback_subject(token)
    except TokenError:
        return _invalid_link(request)
    if found is None:
        return _gone(request)
    subscriber, paper = found
    selected = Choice(choice)
    if request.method == "POST":
        # The page lets the reader change their mind before pressing the button.
        posted = request.POST.get("choice", selected.value)
        if posted not in Choice.__members__.values():
            posted = selected.value
        selected = Choice(posted)
        outcome = vote_record(subscriber=subscriber, paper=paper, choice=selected)
        context = {
            "paper": paper,
            "choice": selected,
            "outcome": outcome.value,
            "preferences_token": make_token(
                subscriber_id=subscriber.pk, token_key=subscriber.token_key, purpose=Purpose.PREFERENCES
            ),
        }
        return _private(render(request, "subscribers/feedback_saved.html", context))
    current = Vote.objects.filter(subscriber=subscriber, paper=paper).values_list("value", flat=True).first()
    context = {
        "paper": paper,
        "abstract": readable(paper.abstract),  # as the email's card shows it, without leftover TeX
        "choice": selected,
        "current": None if current is None else Choice.of(current),
        "action": request.path,
    }
    return _private(render(request, "subscribers/feedback.html", context))


@require_POST
def undo_vote(request: HttpRequest, token: str, paper_id: int) -> HttpResponse:
    try:
        claim = read_token(token, purpose=Purpose.PREFERENCES)
    except TokenError:
        return _invalid_link(request)
    subscriber = Subscriber.objects.filter(pk=claim.subscriber_id).first()
    if subscriber is None:
        return _gone(request)
    if not claim_matches(claim, token_key=subscriber.token_key):
        return _invalid_link(request)
    vote_undo(subscriber=subscriber, paper_id=paper_id)
    # Back to the page the button was on: a reload there does not repeat the POST.
    response = HttpResponseRedirect(reverse("subscribers:preferences", kwargs={"token": token}) + "#votes")
    response.status_code = 303
    return _private(response)
