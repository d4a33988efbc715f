"""Public pages: landing, sign-up, confirm, preferences, unsubscribe. Each parses the request and calls a service."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from subscribers import ratelimit, services
from subscribers.feedback import votes_list
from subscribers.forms import CONSENT_TEXT, PreferencesForm, SubscribeForm
from subscribers.models import Subscriber
from subscribers.tokens import Purpose, TokenError, claim_matches, make_token, read_token

_ONE_CLICK_FIELD, _ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"


def _private(response: HttpResponse) -> HttpResponse:
    """Token pages are personal: never cached by a proxy, never indexed."""
    add_never_cache_headers(response)
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _subscriber_for(token: str, purpose: Purpose, *, max_age: timedelta | None = None) -> Subscriber | None:
    """The subscriber a genuine token names, ``None`` if it was genuine but they have since been erased.

    Raises ``TokenError`` for forged, tampered or expired tokens, and for a token made for another subscriber
    under the same id (its key does not match).
    """
    claim = read_token(token, purpose=purpose, max_age=max_age)
    subscriber = Subscriber.objects.filter(pk=claim.subscriber_id).first()
    if subscriber is None:
        return None
    if not claim_matches(claim, token_key=subscriber.token_key):
        raise TokenError("token key does not match the subscriber")
    return subscriber


def _landing_context(form: SubscribeForm | None = None) -> dict[str, object]:
    return {"form": form or SubscribeForm(), "consent_text": CONSENT_TEXT, "track_clicks": settings.TRACK_CLICKS}


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "subscribers/landing.html", _landing_context())


@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return HttpResponseRedirect(reverse("subscribers:landing"))
    form = SubscribeForm(request.POST)
    if form.is_bot():
        # Same answer as a real sign-up, so the bot learns nothing; nothing is stored or sent.
        return _check_inbox(request)
    valid = form.is_valid()
    verdict = ratelimit.check_signup(request, email=form.cleaned_data.get("email") if valid else None)
    if verdict.limited:
        response = render(
            request, "subscribers/rate_limited.html", {"retry_minutes": -(-verdict.retry_after // 60)}, status=429
        )
        response["Retry-After"] = str(verdict.retry_after)
        return response
    if not valid:
        return render(request, "subscribers/landing.html", _landing_context(form), status=400)
    services.subscriber_subscribe(
        email=form.cleaned_data["email"],
        keywords=form.cleaned_data["keywords"],
        frequency=form.cleaned_data["frequency"],
        consent_source=f"{settings.SITE_URL}{reverse('subscribers:landing')}",
        consent_text=CONSENT_TEXT,
        ip=ratelimit.client_ip(request),
    )
    return _check_inbox(request)


def _check_inbox(request: HttpRequest) -> HttpResponse:
    # The same bytes whatever the address's state: no address enumeration through this page.
    return _private(render(request, "subscribers/check_inbox.html"))


@require_GET
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    max_age = timedelta(days=settings.SUBSCRIBE_CONFIRM_MAX_AGE_DAYS)
    try:
        subscriber = _subscriber_for(token, Purpose.CONFIRM, max_age=max_age)
    except TokenError as exc:
        context = {**_landing_context(), "expired": exc.expired}
        return _private(render(request, "subscribers/confirm_invalid.html", context, status=400))
    if subscriber is None or subscriber.status not in Subscriber.ON_THE_LIST:
        # Erased, unsubscribed since, or bounced: this link cannot bring them back; signing up again can.
        context = {**_landing_context(), "expired": False}
        return _private(render(request, "subscribers/confirm_invalid.html", context, status=400))
    services.subscriber_confirm(subscriber=subscriber)
    context = {"subscriber": subscriber, "preferences_token": _token_for_page(subscriber, Purpose.PREFERENCES)}
    return _private(render(request, "subscribers/confirmed.html", context))


def _token_for_page(subscriber: Subscriber, purpose: Purpose) -> str:
    return make_token(subscriber_id=subscriber.pk, token_key=subscriber.token_key, purpose=purpose)


def _invalid_link(request: HttpRequest) -> HttpResponse:
    return _private(render(request, "subscribers/link_invalid.html", status=400))


def _gone(request: HttpRequest) -> HttpResponse:
    return _private(render(request, "subscribers/gone.html", status=404))


@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    try:
        subscriber = _subscriber_for(token, Purpose.PREFERENCES)
    except TokenError:
        return _invalid_link(request)
    if subscriber is None:
        return _gone(request)
    saved = False
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            services.subscriber_update_preferences(
                subscriber=subscriber,
                keywords=form.cleaned_data["keywords"],
                frequency=form.cleaned_data["frequency"],
                time_zone=form.cleaned_data["time_zone"],
            )
            saved = True
    else:
        form = PreferencesForm(
            initial={
                "keywords": ", ".join(subscriber.keywords),
                "frequency": subscriber.frequency,
                "time_zone": subscriber.time_zone,
            }
        )
    status = 400 if request.method == "POST" and not saved else 200
    context = {
        "subscriber": subscriber,
        "form": form,
        "saved": saved,
        "token": token,
        "unsubscribe_token": _token_for_page(subscriber, Purpose.UNSUBSCRIBE),
        "votes": votes_list(subscriber=subscriber),
    }
    return _private(render(request, "subscribers/preferences.html", context, status=status))


@require_GET
def export_data(request: HttpRequest, token: str) -> HttpResponse:
    try:
        subscriber = _subscriber_for(token, Purpose.PREFERENCES)
    except TokenError:
        return _invalid_link(request)
    if subscriber is None:
        return _gone(request)
    response = JsonResponse(services.subscriber_export(subscriber=subscriber), json_dumps_params={"indent": 2})
    response["Content-Disposition"] = 'attachment; filename="my-trending-papers-data.json"'
    return _private(response)


@require_POST
def delete_me(request: HttpRequest, token: str) -> HttpResponse:
    try:
        subscriber = _subscriber_for(token, Purpose.PREFERENCES)
    except TokenError:
        return _invalid_link(request)
    if subscriber is not None:
        services.subscriber_delete(subscriber=subscriber)
    return _private(render(request, "subscribers/deleted.html"))


def _no_view(request: HttpRequest) -> HttpResponse:
    """Stands for a CSRF-protected view when the unsubscribe view runs the CSRF check by hand."""
    return HttpResponse()


@csrf_exempt  # only for the RFC 8058 one-click POST; every other POST here is CSRF-checked below
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    one_click = request.method == "POST" and request.POST.get(_ONE_CLICK_FIELD) == _ONE_CLICK_VALUE
    if request.method == "POST" and not one_click:
        # Checked as for a view that is not exempt: passing ``unsubscribe`` itself (csrf_exempt) would skip the check.
        rejected = CsrfViewMiddleware(_no_view).process_view(request, _no_view, (), {})
        if rejected is not None:
            return rejected
    try:
        subscriber = _subscriber_for(token, Purpose.UNSUBSCRIBE)
    except TokenError:
        return _invalid_link(request)
    if request.method == "GET":
        # Mail scanners follow GET links: a GET only shows the button.
        context = {"subscriber": subscriber, "token": token}
        return _private(render(request, "subscribers/unsubscribe.html", context))
    if subscriber is not None:
        services.subscriber_unsubscribe(subscriber=subscriber, via="one-click" if one_click else "page")
    if one_click:
        # Mailbox providers only look at the status; a short body keeps the answer cheap.
        return _private(HttpResponse("Unsubscribed.\n", content_type="text/plain; charset=utf-8"))
    context = {"subscriber": subscriber, "preferences_token": None}
    if subscriber is not None:
        context["preferences_token"] = _token_for_page(subscriber, Purpose.PREFERENCES)
    return _private(render(request, "subscribers/unsubscribed.html", context))
