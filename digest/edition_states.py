"""The edition's state machine: its status groups and every transition, in one place.

    draft -> approved -> sending -> sent        held: paused by a curator        cancelled: final

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


class EditionStateError(Exception):
    """The edition is not in a state this move starts from (perhaps it changed under the curator)."""


# --- A curator's moves ---------------------------------------------------------------------------------------


def _transition(*, edition: Edition, allowed: tuple[str, ...], verb: str, **fields: Any) -> Edition:
    updated = Edition.objects.filter(pk=edition.pk, status__in=allowed).update(**fields)
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
