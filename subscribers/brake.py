"""The complaint-rate brake: stop sending before the complaint or hard-bounce rate puts every reader in spam.

**The rates.** Over a window of the most recent sends (the ``BRAKE_WINDOW_DELIVERIES`` most recently sent deliveries,
none older than ``BRAKE_WINDOW_DAYS``): the share the ESP reported as complained, and the share that bounced hard
(soft bounces never move a delivery, see ``subscribers.webhooks.tracking``). A complaint counts against the delivery
it is about, as Gmail counts it against the day the mail arrived. The figures come from one aggregate over the last
N rows of a partial index on ``sent_at``, walked backwards from now: its cost is set by the window, not by how many
deliveries the table holds (``bench/brake.py`` measures it).

**The levels.** Below ``BRAKE_MIN_DELIVERIES`` accepted deliveries nothing is judged (one complaint among 200 sends is
0.5% and says little). Above ``BRAKE_COMPLAINT_WARN_PERCENT`` complaints the dashboard warns and ``/healthz`` says
degraded. Above ``BRAKE_COMPLAINT_PAUSE_PERCENT`` complaints or ``BRAKE_BOUNCE_PAUSE_PERCENT`` hard bounces, the brake
trips: sending pauses until a curator resumes it in the admin.

**Paused.** Tripping is a conditional UPDATE on the brake's one row (one process wins and logs it). Every edition
about to go out (approved or sending) is then held with the reason, so its page says why; while the brake stays
engaged, editions approved later are held the same way. ``brake_enforce`` is the one checkpoint, called by the tick
(after building, before fan-out), by each chunk before it claims rows (a send in progress stops at its next chunk;
its rows stay queued), by ``send_edition`` (which refuses without ``--force``) and by the admin's "send now".

**Resuming** is a curator's move, written to the admin log by the caller. It gives back the editions the brake held
and restarts the judged sample at that moment: the complaints already seen were acknowledged, so only deliveries sent
after the resume count towards tripping again (and need ``BRAKE_MIN_DELIVERIES`` of them first). The dashboard's
rolling figures keep counting the whole window, so it goes on warning while old complaints are still in it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q, QuerySet

from digest import edition_states
from digest.models import Edition
from subscribers.models import Delivery, SendingBrake

logger = logging.getLogger(__name__)


class BrakeStateError(Exception):
    """A resume asked of a brake that is not engaged (perhaps another curator resumed first)."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    complaint_warn_percent: float
    complaint_pause_percent: float
    bounce_pause_percent: float
    min_deliveries: int
    window_deliveries: int
    window_days: int

    @classmethod
    def from_settings(cls) -> Thresholds:
        return cls(
            complaint_warn_percent=settings.BRAKE_COMPLAINT_WARN_PERCENT,
            complaint_pause_percent=settings.BRAKE_COMPLAINT_PAUSE_PERCENT,
            bounce_pause_percent=settings.BRAKE_BOUNCE_PAUSE_PERCENT,
            min_deliveries=settings.BRAKE_MIN_DELIVERIES,
            window_deliveries=settings.BRAKE_WINDOW_DELIVERIES,
            window_days=settings.BRAKE_WINDOW_DAYS,
        )


@dataclass(frozen=True, slots=True)
class Sample:
    """Accepted deliveries in a window, and how many of them drew a complaint or bounced hard."""

    deliveries: int
    complaints: int
    bounces: int

    @property
    def complaint_percent(self) -> float:
        return 100 * self.complaints / self.deliveries if self.deliveries else 0.0

    @property
    def bounce_percent(self) -> float:
        return 100 * self.bounces / self.deliveries if self.deliveries else 0.0

    def complaints_text(self) -> str:
        return f"complaints {self.complaint_percent:.2f}% ({self.complaints:,} of {self.deliveries:,} deliveries)"

    def bounces_text(self) -> str:
        return f"hard bounces {self.bounce_percent:.2f}% ({self.bounces:,} of {self.deliveries:,} deliveries)"


class Level(StrEnum):
    TOO_FEW = "too_few"  # fewer deliveries than the minimum: not judged
    OK = "ok"
    WARN = "warn"
    PAUSE = "pause"


def recent_sends(*, now: datetime, thresholds: Thresholds) -> QuerySet[Delivery]:
    """The window: the latest sends, newest first, read backwards along the partial sent_at index.

    Only the time selects them: ``sent_at`` is set when the ESP accepted a message, and the sample counts only rows
    still in ``Delivery.ACCEPTED`` (``delivery_samples``). A status condition here as well let the planner pick
    every accepted row by the status index and sort them (a second per chunk at half a million sends, with stale
    statistics) instead of walking the newest few thousand along this index.
    """
    since = now - timedelta(days=thresholds.window_days)
    recent = Delivery.objects.filter(sent_at__gte=since).order_by("-sent_at")
    return recent[: thresholds.window_deliveries]


def delivery_samples(*, now: datetime, since: datetime | None, thresholds: Thresholds) -> tuple[Sample, Sample]:
    """(the whole window, the part of it sent after ``since``) in one aggregate over the window's rows."""
    recent = recent_sends(now=now, thresholds=thresholds)
    after = Q(sent_at__gt=since) if since is not None else Q()
    accepted = Q(status__in=Delivery.ACCEPTED)
    complained, bounced = Q(status=Delivery.Status.COMPLAINED), Q(status=Delivery.Status.BOUNCED)
    figures = recent.aggregate(
        n=Count("pk", filter=accepted),
        complaints=Count("pk", filter=complained),
        bounces=Count("pk", filter=bounced),
        n_after=Count("pk", filter=after & accepted),
        complaints_after=Count("pk", filter=after & complained),
        bounces_after=Count("pk", filter=after & bounced),
    )
    window = Sample(deliveries=figures["n"], complaints=figures["complaints"], bounces=figures["bounces"])
    since_resume = Sample(
        deliveries=figures["n_after"], complaints=figures["complaints_after"], bounces=figures["bounces_after"]
    )
    return window, since_resume


def _over_pause(sample: Sample, t: Thresholds) -> list[str]:
    """What in ``sample`` is above a pause threshold, as phrases; empty when nothing is."""
    if sample.deliveries < t.min_deliveries:
        return []
    over = []
    if sample.complaint_percent > t.complaint_pause_percent:
        over.append(f"{sample.complaints_text()} above the {t.complaint_pause_percent:g}% limit")
    if sample.bounce_percent > t.bounce_pause_percent:
        over.append(f"{sample.bounces_text()} above the {t.bounce_pause_percent:g}% limit")
    return over


def judge(*, window: Sample, since_resume: Sample, thresholds: Thresholds) -> tuple[Level, str]:
    """The level the rates call for, and a sentence saying why."""
    t = thresholds
    over = _over_pause(since_resume, t)
    if over:
        return Level.PAUSE, "Sending paused by the complaint-rate brake: " + "; ".join(over) + "."
    if window.deliveries < t.min_deliveries:
        return Level.TOO_FEW, (
            f"{window.deliveries:,} deliveries in the window: the rates are judged from {t.min_deliveries:,}."
        )
    # Over a pause threshold in the whole window but not since the last resume: acknowledged, still worth a warning.
    acknowledged = _over_pause(window, t)
    if acknowledged:
        return Level.WARN, "Since before the last resume: " + "; ".join(acknowledged) + "."
    if window.complaint_percent > t.complaint_warn_percent:
        return Level.WARN, f"{window.complaints_text().capitalize()}, above the {t.complaint_warn_percent:g}% warning."
    return Level.OK, f"{window.complaints_text().capitalize()}; {window.bounces_text()}."


@dataclass(frozen=True)
class BrakeState:
    window: Sample
    since_resume: Sample
    level: Level
    verdict: str
    thresholds: Thresholds
    engaged_at: datetime | None
    reason: str  # why it was engaged; empty when it is not
    resumed_at: datetime | None

    @property
    def paused(self) -> bool:
        return self.engaged_at is not None

    @property
    def healthy(self) -> bool:
        return not self.paused and self.level in (Level.OK, Level.TOO_FEW)


def _row() -> SendingBrake:
    # No row yet (a fresh install): never tripped, never resumed. Reading never writes; tripping makes the row.
    return SendingBrake.objects.filter(pk=SendingBrake.SINGLETON).first() or SendingBrake(pk=SendingBrake.SINGLETON)


def brake_state(*, now: datetime) -> BrakeState:
    """The rates, their level and whether sending is paused; changes nothing. Two queries."""
    row = _row()
    thresholds = Thresholds.from_settings()
    window, since_resume = delivery_samples(now=now, since=row.resumed_at, thresholds=thresholds)
    level, verdict = judge(window=window, since_resume=since_resume, thresholds=thresholds)
    return BrakeState(
        window=window,
        since_resume=since_resume,
        level=level,
        verdict=verdict,
        thresholds=thresholds,
        engaged_at=row.engaged_at,
        reason=row.reason,
        resumed_at=row.resumed_at,
    )


def brake_enforce(*, now: datetime) -> BrakeState:
    """The checkpoint before any new send: trips the brake when the rates call for it, and while it is engaged holds
    every edition about to go out, with the reason. The caller sends nothing when the answer is ``paused``."""
    state = brake_state(now=now)
    if not state.paused and state.level is Level.PAUSE:
        SendingBrake.objects.get_or_create(pk=SendingBrake.SINGLETON)
        tripped = SendingBrake.objects.filter(pk=SendingBrake.SINGLETON, engaged_at__isnull=True).update(
            engaged_at=now, reason=state.verdict
        )
        if tripped:  # one process wins; it holds what was about to go out, including editions mid-send
            held = edition_states.editions_pause(reason=state.verdict)
            logger.warning("%s Held: %s", state.verdict, ", ".join(str(e) for e in held) or "nothing")
        state = brake_state(now=now)
    if state.paused:
        # Approved since the trip (a curator's approval, or the tick's own): held too, so its page says why. Not
        # sending ones: an edition sending now while the brake is engaged is an operator's ``--force``.
        edition_states.editions_pause(reason=state.reason, statuses=(Edition.Status.APPROVED,))
    return state


@dataclass(frozen=True)
class Resumed:
    reason: str  # what had tripped the brake
    editions: list[Edition]  # given back: sending again, or approved for the next tick


def brake_resume(*, user: AbstractBaseUser, now: datetime) -> Resumed:
    """A curator resumes sending: the editions the brake held go back, and the judged sample starts again now."""
    row = _row()  # for the reason it was engaged with
    released = SendingBrake.objects.filter(pk=SendingBrake.SINGLETON, engaged_at__isnull=False).update(
        engaged_at=None, reason="", resumed_at=now, resumed_by=user
    )
    if not released:
        raise BrakeStateError("Sending is not paused: there is nothing to resume.")
    editions = edition_states.editions_unpause()
    logger.warning("sending resumed by %s after: %s", user, row.reason)
    return Resumed(reason=row.reason, editions=editions)


def brake_override(*, edition: Edition, now: datetime) -> Edition:
    """An operator's ``send_edition --force``: this edition goes out despite the pause, which stays for the rest."""
    return edition_states.edition_unpause_to_send(edition=edition, now=now)
