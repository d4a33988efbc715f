"""The edition's state machine: its status groups and every transition, in one place.

    draft -> approved -> sending -> sent        held: paused by a curator        cancelled: final

The service holds editions too, when it pauses sending (the complaint-rate brake, ``subscribers.brake``): those
carry the reason in ``held_reason`` (a curator's hold has none), and resuming gives back exactly those.

A curator approves, holds, reopens or cancels; the schedule approves a draft itself when no approval is required;
fan-out marks an edition sending and its last delivery marks it sent. Each transition is a conditional UPDATE from
the states it may start from (``filter(pk=..., status__in=FROM).update(status=TO)``: one row changed, it is mine),
so two curators clicking at once, or a curator racing the send job, cannot both win.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from digest.models import Edition

Status = Edition.Status

# --- Status groups -------------------------------------------------------------------------------------------

# Which states each curator move starts from. Sending and sent belong to the send job; cancelled is final.
APPROVABLE = (Status.DRAFT, Status.HELD)
# Holding a sending edition pauses it: the sender claims no further chunk of a held edition.
HOLDABLE = (Status.DRAFT, Status.APPROVED, Status.SENDING)
CANCELLABLE = (Status.DRAFT, Status.APPROVED, Status.HELD)
REOPENABLE = (Status.APPROVED, Status.HELD)
# Entries, subject and intro can change; what was approved or sent stays as it was.
EDITABLE = (Status.DRAFT, Status.HELD)
# A curator's "send now" (approving a draft or held edition on the way).
SEND_NOW_FROM = (*APPROVABLE, Status.APPROVED)
# Went (or is going) out as it is, or signed off as it is: rebuilding it would make the archive and the emails
# disagree, or change a list a curator approved. Set it back to draft (or hold it) first.
FROZEN = (Status.APPROVED, Status.SENDING, Status.SENT, Status.CANCELLED)
# Public in the archive and the feed as soon as approved: the archive link in the email must work for the first
# recipient, who may get it while the edition is still sending.
PUBLIC = (Status.APPROVED, Status.SENDING, Status.SENT)
# The schedule sends these to whoever is due; a sent edition still reaches time zones whose morning comes later.
SENDABLE = (Status.APPROVED, Status.SENDING, Status.SENT)
# Nothing is sent of these: no fan-out, no chunk.
STOPPED = (Status.HELD, Status.CANCELLED)
# Fan-out marks these sending (a draft only when an operator sends it by name).
FAN_OUT_FROM = (Status.DRAFT, Status.APPROVED, Status.SENT)
# What the service holds when it pauses sending: whatever would go out next. Sent editions are left alone (the
# pause stops their late time zones anyway), so their status stays true.
PAUSABLE = (Status.APPROVED, Status.SENDING)


class EditionStateError(Exception):
    """The edition is not in a state this move starts from (perhaps it changed under the curator)."""


# --- A curator's moves ---------------------------------------------------------------------------------------


def _transition(*, edition: Edition, allowed: tuple[str, ...], verb: str, **fields: Any) -> Edition:
    # A curator's move settles the edition: whatever the service held it for no longer applies.
    updated = Edition.objects.filter(pk=edition.pk, status__in=allowed).update(held_reason="", **fields)
    edition.refresh_from_db()
    if not updated:
        raise EditionStateError(f"{edition} is {edition.get_status_display().lower()}: it cannot be {verb}.")
    return edition


def edition_approve(*, edition: Edition, user: AbstractBaseUser) -> Edition:
    """Sign off this exact list; an empty edition is not approvable (it would send an empty email)."""
    if not edition.entries.exists():
        raise EditionStateError(f"{edition} has no entries: build it or add papers before approving.")
    return _transition(
        edition=edition,
        allowed=APPROVABLE,
        verb="approved",
        status=Status.APPROVED,
        approved_at=timezone.now(),
        approved_by=user,
    )


def edition_hold(*, edition: Edition) -> Edition:
    """Keep the edition from going out until a curator approves it again."""
    return _transition(edition=edition, allowed=HOLDABLE, verb="held", status=Status.HELD)


def edition_cancel(*, edition: Edition) -> Edition:
    return _transition(edition=edition, allowed=CANCELLABLE, verb="cancelled", status=Status.CANCELLED)


def edition_reopen(*, edition: Edition) -> Edition:
    """Back to draft, withdrawing an approval, so the list can be rebuilt or edited."""
    return _transition(
        edition=edition,
        allowed=REOPENABLE,
        verb="reopened",
        status=Status.DRAFT,
        approved_at=None,
        approved_by=None,
    )


# --- Moves without a curator -----------------------------------------------------------------------------------


def edition_auto_approve(*, edition: Edition, now: datetime) -> Edition:
    """Approve a draft with nobody's signature (no approval required, or the sample on a fresh install).

    Anything but a draft is left as it is: a curator who held or cancelled it meanwhile wins.
    """
    Edition.objects.filter(pk=edition.pk, status=Status.DRAFT).update(status=Status.APPROVED, approved_at=now)
    edition.refresh_from_db()
    return edition


def edition_mark_sending(*, edition_id: int, now: datetime) -> bool:
    """Fan-out started (or resumed): keeps the first start time. A held or cancelled edition is not touched."""
    return bool(
        Edition.objects.filter(pk=edition_id, status__in=FAN_OUT_FROM).update(
            status=Status.SENDING, send_started_at=Coalesce(F("send_started_at"), now)
        )
    )


def edition_mark_sent(*, edition_id: int, now: datetime, recipient_count: int) -> bool:
    """The last delivery was settled: sending -> sent, with how many the ESP accepted."""
    return bool(
        Edition.objects.filter(pk=edition_id, status=Status.SENDING).update(
            status=Status.SENT, sent_at=now, recipient_count=recipient_count
        )
    )


# --- The service pausing sending (the complaint-rate brake) ---------------------------------------------------


def editions_pause(*, reason: str, statuses: tuple[str, ...] = PAUSABLE) -> list[Edition]:
    """Hold every edition in ``statuses`` on the service's behalf, saying why; returns those held now with it."""
    if not reason:
        raise ValueError("a pause needs a reason: an empty one would read as a curator's hold")
    Edition.objects.filter(status__in=statuses).update(status=Status.HELD, held_reason=reason)
    return list(Edition.objects.filter(status=Status.HELD, held_reason=reason).order_by("date", "pk"))


def editions_unpause() -> list[Edition]:
    """Give back every edition the service held: sending again if it had started, else approved.

    A curator's own holds (no reason) stay held. Returns the editions released.
    """
    paused = Edition.objects.filter(status=Status.HELD).exclude(held_reason="")
    released = list(paused.order_by("date", "pk"))
    paused.filter(send_started_at__isnull=False).update(status=Status.SENDING, held_reason="")
    paused.filter(send_started_at__isnull=True).update(status=Status.APPROVED, held_reason="")
    return released


def edition_unpause_to_send(*, edition: Edition, now: datetime) -> Edition:
    """An operator sends this one edition despite the pause: straight to sending, so no later pause check that
    holds approved editions takes it back. Only an edition the service held is touched."""
    Edition.objects.filter(pk=edition.pk, status=Status.HELD).exclude(held_reason="").update(
        status=Status.SENDING, held_reason="", send_started_at=Coalesce(F("send_started_at"), now)
    )
    edition.refresh_from_db()
    return edition
