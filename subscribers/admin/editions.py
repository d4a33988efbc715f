"""The edition admin's reader-facing parts: delivery figures, the preview as a reader, "send a test", "send now",
settling the deliveries a send left in doubt.

``digest`` registers an ``EditionAdmin`` that knows only the edition (entries, curation, approve / hold). This
module swaps in a subclass that adds what needs subscribers too, so the edition page shows one panel while the
imports point one way: subscribers -> digest, never back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from digest import edition_states
from digest.admin.editions import Button, EditionAdmin, Moves
from digest.models import Edition
from digest.rendering.keywords import clean_keywords
from digest.sendable import edition_sendability
from subscribers.admin.brake import RESUME_PERMISSION, released_text, resume_and_log
from subscribers.brake import BrakeState, BrakeStateError, brake_enforce, brake_state
from subscribers.clicks.figures import ClickRate, clickers_per_edition, clickers_per_paper
from subscribers.curation import edition_send_queue
from subscribers.delivery.operator import Settle, SettleRefused, edition_settle_in_doubt
from subscribers.delivery.trial import edition_send_trial
from subscribers.feedback import votes_per_paper
from subscribers.models import Delivery, Subscriber
from subscribers.preview import edition_preview, preview_recipient
from subscribers.reports import (
    DeliveryFigures,
    delivery_figure_annotations,
    delivery_figures,
    delivery_problems,
)


@dataclass(frozen=True, slots=True)
class PaperReaders:
    """One entry's line in the edition page's readers table: votes on the paper, and this edition's clicks."""

    position: int
    title: str
    more: int
    less: int
    clicks: ClickRate


# Importing digest.admin.editions above registered digest's EditionAdmin; this subclass takes its place.
admin.site.unregister(Edition)


def _staff(request: HttpRequest) -> User:
    # The admin site only lets signed-in staff this far (admin_view): never an anonymous user.
    assert isinstance(request.user, User)
    return request.user


@admin.register(Edition)
class EditionDeliveryAdmin(EditionAdmin):
    list_display = [*EditionAdmin.list_display, "sent", "problems"]
    change_form_template = "admin/subscribers/edition/change_form.html"
    confirm_moves = (*EditionAdmin.confirm_moves, "send_now", "settle_sent", "settle_resend")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Edition]:
        # The delivery columns count the same status groups as the figures on the edition's page.
        return super().get_queryset(request).annotate(**delivery_figure_annotations())

    @admin.display(description="sent", ordering="n_sent")
    def sent(self, obj: Edition) -> int:
        return int(getattr(obj, "n_sent", 0))  # annotated by get_queryset

    @admin.display(description="problems", ordering="n_problems")
    def problems(self, obj: Edition) -> int:
        return int(getattr(obj, "n_problems", 0))  # annotated by get_queryset

    # --- Moves: a test to the curator, and sending now ------------------------------------------------------

    def get_moves(self) -> Moves:
        return {
            **super().get_moves(),
            "send_test": ("view", self._do_send_test),  # a curator who may only look can still test
            "send_now": ("change", self._do_send_now),
            "resume_sending": ("change", self._do_resume_sending),
            "settle_sent": ("change", lambda r, e: self._do_settle(r, e, Settle.SENT)),
            "settle_resend": ("change", lambda r, e: self._do_settle(r, e, Settle.RESEND)),
        }

    def get_buttons(self, request: HttpRequest, edition: Edition) -> list[Button]:
        # "Cancel edition" stays the last button, apart from the others.
        *moves, cancel = super().get_buttons(request, edition)
        can_change = self.has_change_permission(request, edition)
        paused = self._brake(request).paused
        # Deliveries left in doubt, and nothing else still to send: only the operator can conclude the edition.
        by_status = self._figures(request, edition).by_status
        in_doubt = by_status.get(Delivery.Status.AMBIGUOUS, 0) > 0 and not any(
            by_status.get(status, 0) for status in (*Delivery.CLAIMABLE, *Delivery.IN_FLIGHT)
        )
        settle = can_change and in_doubt and edition.status not in edition_states.STOPPED
        return [
            ("send_test", "Send a test to me", "", True),
            *moves,
            ("send_now", "Send now", "", can_change and edition.status in edition_states.SEND_NOW_FROM and not paused),
            ("resume_sending", "Resume sending", "default", paused and request.user.has_perm(RESUME_PERMISSION)),
            ("settle_sent", "In-doubt deliveries: count as sent", "", settle),
            ("settle_resend", "In-doubt deliveries: send again", "", settle and not paused),
            cancel,
        ]

    def _do_send_test(self, request: HttpRequest, edition: Edition) -> str:
        address = _staff(request).email
        if not address:
            raise edition_states.EditionStateError("Your staff account has no email address: add one to get a test.")
        message_id = edition_send_trial(edition=edition, email=address, keywords=self._preview_keywords(request))
        return f"Test sent to {address} ({message_id})"

    def _do_send_now(self, request: HttpRequest, edition: Edition) -> str:
        state = brake_enforce(now=timezone.now())
        if state.paused:
            raise edition_states.EditionStateError(f"{state.reason} Resume sending first.")
        verdict = edition_sendability(edition=edition)
        if not verdict.ok:
            raise edition_states.EditionStateError(f"Not sent: {verdict.reason}")
        if edition.status in edition_states.APPROVABLE:
            # "Send now" on a draft is the curator's approval too; it is logged as part of this move.
            edition_states.edition_approve(edition=edition, user=_staff(request))
        chunks = edition_send_queue(edition=edition)
        return f"Sending started: {chunks} chunk(s) queued"

    def _do_resume_sending(self, request: HttpRequest, edition: Edition) -> str:
        if not request.user.has_perm(RESUME_PERMISSION):
            raise edition_states.EditionStateError("Resuming sending needs the permission to change editions.")
        try:
            resumed = resume_and_log(request)  # logs this edition too when it was one the brake held
        except BrakeStateError as exc:
            raise edition_states.EditionStateError(str(exc)) from exc
        self.message_user(request, released_text(resumed))
        return ""

    def _do_settle(self, request: HttpRequest, edition: Edition, how: Settle) -> str:
        """Settle the deliveries left in doubt; "send again" queues them through the workers like "send now"."""
        now = timezone.now()
        if how is Settle.RESEND and (state := brake_enforce(now=now)).paused:
            raise edition_states.EditionStateError(f"{state.reason} Resume sending first.")
        try:
            with transaction.atomic():  # re-queued and their chunks enqueued (on commit) together, or neither
                settled = edition_settle_in_doubt(edition=edition, how=how, now=now)
                if how is Settle.RESEND:
                    chunks = edition_send_queue(edition=edition)
        except SettleRefused as exc:
            raise edition_states.EditionStateError(str(exc)) from exc
        if how is Settle.SENT:
            edition.refresh_from_db()
            return f"Settled {settled} in-doubt deliveries as sent, not sent again; the edition is {edition.status}"
        return f"Settled {settled} in-doubt deliveries by sending them again: {chunks} chunk(s) queued"

    @staticmethod
    def _figures(request: HttpRequest, edition: Edition) -> DeliveryFigures:
        """Read once per request: the buttons and the panel both show them."""
        if "_delivery_figures" not in request.__dict__:
            request.__dict__["_delivery_figures"] = delivery_figures(edition_ids=[edition.pk])[edition.pk]
        return request.__dict__["_delivery_figures"]

    @staticmethod
    def _brake(request: HttpRequest) -> BrakeState:
        """Read once per request: the buttons and the panel both show it."""
        if "_brake_state" not in request.__dict__:
            request.__dict__["_brake_state"] = brake_state(now=timezone.now())
        return request.__dict__["_brake_state"]

    @staticmethod
    def _preview_keywords(request: HttpRequest) -> list[str] | None:
        raw = request.POST.get("keywords", request.GET.get("keywords"))
        if raw is None or not raw.strip():
            return None
        try:
            return clean_keywords(raw.replace(";", ",").split(","))
        except ValidationError:  # a bad keyword list just previews without one
            return None

    # --- The change page: figures, failures and the preview beside the curation panel -----------------------

    def panel_context(self, request: HttpRequest, edition: Edition) -> dict[str, Any]:
        keywords = self._preview_keywords(request)
        # "Preview as a reader": a subscriber's address shows their "For you" and "Still trending" too.
        reader = request.GET.get("reader", "").strip()[:254]
        recipient = preview_recipient(email=reader or _staff(request).email, keywords=keywords)
        figures = self._figures(request, edition)
        delivered = figures.reached("delivered")
        panel = super().panel_context(request, edition)
        return {
            **panel,
            "preview": edition_preview(edition=edition, recipient=recipient),
            "preview_keywords": ", ".join(keywords or []),
            "preview_reader": reader,
            "preview_reader_found": not reader or isinstance(recipient, Subscriber),
            "figures": figures.as_rows(),
            "figures_total": figures.total,
            "figures_problems": figures.problems,
            "in_doubt": figures.by_status.get(Delivery.Status.AMBIGUOUS, 0),
            "settle_offered": any(move.startswith("settle_") for move, *_ in panel["moves"]),
            "problems": list(delivery_problems(edition_id=edition.pk)),
            "papers": self._papers(edition, delivered=delivered),
            "edition_clicks": ClickRate(clickers_per_edition(edition_ids=[edition.pk]).get(edition.pk, 0), delivered),
            "brake": self._brake(request),
        }

    @staticmethod
    def _papers(edition: Edition, *, delivered: int) -> list[PaperReaders]:
        """Each entry's "more / less like this" votes (all time) and unique clickers in this edition: 3 queries."""
        entries = list(edition.entries.order_by("position").values_list("position", "paper_id", "paper__title"))
        votes = votes_per_paper(paper_ids=[paper_id for _, paper_id, _ in entries])
        clickers = clickers_per_paper(edition_id=edition.pk)
        return [
            PaperReaders(position, title, *votes.get(paper_id, (0, 0)), ClickRate(clickers.get(paper_id, 0), delivered))
            for position, paper_id, title in entries
        ]
