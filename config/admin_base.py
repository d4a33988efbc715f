"""The base of every ModelAdmin in the project: bad filter values, ids and dates get a message, never a 500.

Django's admin accepts any lookup on a model's own fields in the query string (``?status__regex=(``,
``?raw__gte=x``, ``?date__year=9999``) and turns only some bad values into its "?e=1" redirect. The rest fail in
the database or in Python: a regular expression that does not compile, a text compared with bytes, a
``date_hierarchy`` year whose "next year" overflows, an action posted with ``_selected_action=abc``. Whatever the
ModelAdmin, that is the visitor's input, not a fault of the server, so it is answered here, once: the changelist
comes back without the filters and says what was refused. The rule that tells input from fault: a list that fails
only with the visitor's parameters is refused with a message; one that fails without them is a real 500.
(NUL characters never get this far: ``config.middleware`` refuses them for every URL.)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any, TypeVar

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IS_POPUP_VAR, TO_FIELD_VAR, IncorrectLookupParameters
from django.core.exceptions import ValidationError
from django.db import DataError, models, router, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode

from config.dates import RangedDateField

logger = logging.getLogger(__name__)

# What bad input raises on its way through a changelist. DataError is PostgreSQL's class 22 ("data exception":
# invalid regular expression, numeric value out of range, ...), which is about the values sent, never an outage.
BAD_INPUT_ERRORS: tuple[type[Exception], ...] = (
    DataError,
    ValueError,
    TypeError,  # e.g. a text value compared with a binary field
    OverflowError,
    ValidationError,
    IncorrectLookupParameters,
)
# Parameters that say how the page is shown, not what is filtered: kept across the redirect.
_KEPT_PARAMS = (IS_POPUP_VAR, TO_FIELD_VAR)
Response = TypeVar("Response", bound=HttpResponseBase)
_REASON_ECHO = 160


def _reason(exc: Exception) -> str:
    """One short line from the error: some messages quote the whole bad value."""
    text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
    text = (text.strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= _REASON_ECHO else text[: _REASON_ECHO - 1] + "…"


def _rendered(response: HttpResponse) -> HttpResponse:
    # Rendering runs the changelist's remaining queries (rows, facets, date drill-down): it must happen inside
    # the guard, not later in the response handler.
    render = getattr(response, "render", None)
    if callable(render):
        render()
    return response


class GuardedModelAdmin(admin.ModelAdmin):
    """Use instead of ``admin.ModelAdmin``; nothing else changes for the subclass."""

    def formfield_for_dbfield(self, db_field: models.Field[Any, Any], request: HttpRequest, **kwargs: Any) -> Any:
        # Every editable date in an admin form is range-checked (config.dates) with the range in the message.
        # Here rather than in formfield_overrides, which a subclass may set for its own fields.
        if isinstance(db_field, models.DateField) and not isinstance(db_field, models.DateTimeField):
            kwargs.setdefault("form_class", RangedDateField)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        view = super().changelist_view
        return self.refusing_bad_filters(request, lambda: _rendered(view(request, extra_context)))

    def refusing_bad_filters(
        self, request: HttpRequest, respond: Callable[[], Response]
    ) -> Response | HttpResponseRedirect:
        """``respond()``, or, when the request's filters made it fail, the bare changelist with the reason."""
        alias = router.db_for_read(self.model)
        # Inside a transaction (ATOMIC_REQUESTS, a test) PostgreSQL refuses every query after a failed one until a
        # rollback: a savepoint keeps the connection usable. In autocommit there is nothing to protect, and actions
        # keep committing as they go rather than becoming one long transaction.
        guard = transaction.atomic(using=alias) if transaction.get_connection(alias).in_atomic_block else nullcontext()
        try:
            with guard:
                return respond()
        except BAD_INPUT_ERRORS as exc:
            dropped = [name for name in request.GET if name not in _KEPT_PARAMS]
            if not dropped:
                raise  # nothing the visitor chose is left to blame: a real fault, let it be a 500
            reason = _reason(exc)
            logger.warning("%s: refused filter parameters %s (%s)", request.path, ", ".join(dropped)[:200], reason)
            if not isinstance(exc, IncorrectLookupParameters):  # get_changelist_instance has said it already
                self.message_user(
                    request,
                    f"The list could not be shown with these filters or search ({reason}); they were removed.",
                    messages.ERROR,
                )
            return HttpResponseRedirect(self._bare_changelist_url(request))

    def _bare_changelist_url(self, request: HttpRequest) -> str:
        opts = self.opts
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist", current_app=self.admin_site.name)
        kept: dict[str, str] = {name: request.GET[name] for name in _KEPT_PARAMS if name in request.GET}
        return f"{url}?{urlencode(kept)}" if kept else url

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        # Two lookups fail as server errors rather than as bad values, so they are refused by name first:
        # __range takes a pair, which a URL parameter cannot carry (Django would take each character of the string
        # as a bound); a __regex that does not compile fails inside the database (on SQLite as an
        # OperationalError, indistinguishable from an outage).
        name = lookup.rsplit("__", 1)[-1]
        if name == "range":
            raise IncorrectLookupParameters(f"{lookup}: a range cannot be given in a URL; use __gte and __lte")
        if name in ("regex", "iregex"):
            try:
                re.compile(value)
            except (re.error, TypeError) as exc:
                raise IncorrectLookupParameters(f"{lookup}: not a regular expression ({exc})") from None
        return super().lookup_allowed(lookup, value, request)

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        try:
            return super().get_changelist_instance(request)
        except IncorrectLookupParameters as exc:
            # Django answers these with a bare "?e=1" redirect; say what happened.
            self.message_user(
                request, f"Unknown or invalid filter ({_reason(exc)}); showing the list without it.", messages.ERROR
            )
            raise

    def response_action(
        self, request: HttpRequest, queryset: QuerySet[Any], *args: Any, **kwargs: Any
    ) -> HttpResponse | None:
        """Refuse the action, with a message, when a selected id is not an id at all (``filter(pk__in=...)``
        would raise on it)."""
        pk = self.opts.pk
        for raw in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
            try:
                pk.run_validators(pk.to_python(raw))
            except ValidationError:
                shown = raw if len(raw) <= 40 else raw[:40] + "…"
                self.message_user(
                    request,
                    f"Nothing was changed: {shown!r} is not the id of any {self.opts.verbose_name}.",
                    messages.ERROR,
                )
                return None  # the changelist redirects back to itself with the message
        return super().response_action(request, queryset, *args, **kwargs)
