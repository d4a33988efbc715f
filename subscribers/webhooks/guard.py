"""The ESP webhook endpoints: Anymail's views, each behind a guard that answers bad outside input with a 4xx.

Anyone on the internet can post to a webhook URL. Left alone, Anymail's views turn a failed authentication into a
400 that Django logs as an ERROR with a full traceback (it is a ``SuspiciousOperation``), and a malformed body or a
payload meant for another kind of webhook into a 500. Behind the guard:

- a failed authentication (basic auth, the ESP's signature, the SNS signature) answers 400, and a malformed body or
  a payload for the wrong webhook answers 400;
- each logs one WARNING line without a traceback, at most one per client IP a minute (counted in the cache), so
  nobody can fill the log; Django's own "Bad Request" line for these paths is dropped (``config.logs``);
- a webhook whose signing secret is not configured answers 404 as if it were not mounted, and says which setting;
- an upstream the webhook needs that does not answer now (the SNS certificate, the ESP's API) answers 503, so the
  ESP retries later; an error while recording events (the database) stays a 500 for the same reason.

Amazon SES views additionally verify the SNS signature (``subscribers.webhooks.sns``) after basic auth.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from anymail.exceptions import (
    AnymailAPIError,
    AnymailConfigurationError,
    AnymailRequestsAPIError,
    AnymailWebhookValidationFailure,
)
from anymail.webhooks.amazon_ses import AmazonSESBaseWebhookView, AnymailBotoClientAPIError
from django.core.cache import cache
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from subscribers.ratelimit import client_ip
from subscribers.webhooks import sns

logger = logging.getLogger(__name__)

WARN_EVERY_SECONDS = 60
# What parsing an unexpected body raises inside Anymail's views (json, KeyError on a missing field, ...). Anymail
# raises AnymailConfigurationError from parse_events for a payload meant for another webhook (tracking vs inbound).
_BODY_ERRORS = (
    AnymailAPIError,
    AnymailConfigurationError,
    ValueError,
    LookupError,
    TypeError,
    AttributeError,
    AssertionError,  # Mandrill asserts a batch does not mix tracking and inbound events
)
# Calls the view makes to the ESP's own API (Brevo inbound attachments, SES inbound mail stored in S3).
_UPSTREAM_ERRORS = (AnymailRequestsAPIError, AnymailBotoClientAPIError, sns.SnsUnreachable)


class MalformedWebhook(Exception):
    """The request body is not a payload this webhook understands."""


def _clean(text: object) -> str:
    # One short line: Anymail's messages can quote the whole body, and a newline could forge a log line.
    return " ".join(str(text).split())[:200]


def warn_refused(request: HttpRequest, what: str, detail: object) -> None:
    """One WARNING line, at most one per client IP every ``WARN_EVERY_SECONDS``."""
    source = client_ip(request) or "unknown"
    try:
        first = cache.add(f"webhook-refused:{source}", 1, timeout=WARN_EVERY_SECONDS)
    except Exception:  # the cache being down must not turn a refusal into a 500; log rather than stay silent
        first = True
    if first:
        logger.warning("webhook %s refused (%s) from %s: %s", request.path[:100], what, source, _clean(detail))


class GuardMixin:
    """Placed before an Anymail view: errors while reading the body are the sender's, not the server's."""

    def run_validators(self, request: HttpRequest) -> None:
        try:
            super().run_validators(request)  # type: ignore[misc]
        except (AnymailWebhookValidationFailure, AnymailConfigurationError, *_UPSTREAM_ERRORS):
            raise
        except _BODY_ERRORS as exc:
            raise MalformedWebhook(exc) from exc

    def parse_events(self, request: HttpRequest) -> list[Any]:
        try:
            return super().parse_events(request)  # type: ignore[misc]
        except _UPSTREAM_ERRORS:
            raise
        except _BODY_ERRORS as exc:
            raise MalformedWebhook(exc) from exc


class SnsVerifiedMixin:
    """For Amazon SES views: after basic auth and Anymail's SNS header checks, the SNS signature must verify."""

    def run_validators(self, request: HttpRequest) -> None:
        # Basic auth first: a stranger's post never makes us fetch a certificate.
        super().run_validators(request)  # type: ignore[misc]
        sns.verify_message(self._parse_sns_message(request))  # type: ignore[attr-defined]

    def auto_confirm_sns_subscription(self, sns_message: dict[str, Any]) -> None:
        # Anymail confirms through boto3 in the topic's region; fetching the signed SubscribeURL from a trusted
        # host needs no AWS permission and works for any region.
        if self.auto_confirm_enabled:  # type: ignore[attr-defined]
            sns.confirm_subscription(sns_message)


def _refusal(status: int, text: str) -> HttpResponse:
    return HttpResponse(f"{text}\n", status=status, content_type="text/plain; charset=utf-8")


def guarded_view(view_class: type[View]) -> Callable[..., HttpResponseBase]:
    """A view function for one Anymail webhook view class, with the guard (and SNS verification for SES)."""
    mixins: tuple[type, ...] = (GuardMixin,)
    if issubclass(view_class, AmazonSESBaseWebhookView):
        mixins = (GuardMixin, SnsVerifiedMixin)
    guarded: type[View] = type(f"Guarded{view_class.__name__}", (*mixins, view_class), {})
    view = guarded.as_view()

    @csrf_exempt  # the ESP has no CSRF token; authentication is basic auth and signatures
    def endpoint(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            response = view(request, *args, **kwargs)
        except AnymailWebhookValidationFailure as exc:
            warn_refused(request, "authentication failed", exc)
            return _refusal(400, "Webhook refused: authentication failed.")
        except MalformedWebhook as exc:
            warn_refused(request, "malformed body", exc.__cause__ or exc)
            return _refusal(400, "Webhook refused: malformed body.")
        except SuspiciousOperation as exc:  # Django's own: a body over DATA_UPLOAD_MAX_MEMORY_SIZE, too many fields
            warn_refused(request, type(exc).__name__, exc)
            return _refusal(400, "Webhook refused.")
        except _UPSTREAM_ERRORS as exc:
            warn_refused(request, "upstream unavailable", exc)
            return _refusal(503, "Webhook not processed: try again later.")
        except AnymailConfigurationError as exc:
            # Only setting up the view raises this here (parse errors became MalformedWebhook): a missing secret.
            warn_refused(request, "webhook not configured", exc)
            return _refusal(404, "Not found.")
        if response.status_code == 401:
            # SNS posts without credentials until challenged: a 401 here is the handshake, not an attack.
            logger.debug("webhook %s challenged for basic auth", request.path[:100])
        return response

    return endpoint
