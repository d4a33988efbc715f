"""The edition's state machine: each move starts only from its states, and a move that loses a race changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import User

from digest import edition_states
from digest.edition_states import EditionStateError
from digest.models import Edition
from tests.factories import make_edition, make_seen_paper

pytestmark = pytest.mark.django_db

S = Edition.Status
DAY = date(2025, 3, 14)
NOON = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


def edition_in(status: str) -> Edition:
    return make_edition(date=DAY, papers=[make_seen_paper(listed_date=DAY)], status=status)


@pytest.mark.parametrize(
    ("move", "allowed"),
    [
        (edition_states.edition_hold, edition_states.HOLDABLE),
        (edition_states.edition_cancel, edition_states.CANCELLABLE),
        (edition_states.edition_reopen, edition_states.REOPENABLE),
    ],
    ids=["hold", "cancel", "reopen"],
)
def test_a_curator_move_starts_only_from_its_states(move, allowed) -> None:
    for status in S.values:
        edition = edition_in(status)
        if status in allowed:
            assert move(edition=edition).status != status
        else:
            with pytest.raises(EditionStateError, match=edition.get_status_display().lower()):
                move(edition=edition)
            edition.refresh_from_db()
            assert edition.status == status
        edition.delete()


def test_approving_records_who_and_refuses_an_empty_edition() -> None:
    curator = User.objects.create_user("carla")
    edition = edition_in(S.HELD)
    assert edition_states.edition_approve(edition=edition, user=curator).approved_by == curator
    empty = make_edition(date=DAY + timedelta(days=1), status=S.DRAFT)
    with pytest.raises(EditionStateError, match="no entries"):
        edition_states.edition_approve(edition=empty, user=curator)
    empty.refresh_from_db()
    assert empty.status == S.DRAFT


def test_auto_approval_takes_a_draft_only() -> None:
    assert edition_states.edition_auto_approve(edition=edition_in(S.DRAFT), now=NOON).status == S.APPROVED
    held = make_edition(date=DAY + timedelta(days=1), status=S.HELD)
    assert edition_states.edition_auto_approve(edition=held, now=NOON).status == S.HELD  # the curator's hold wins


def test_sending_keeps_its_first_start_and_never_takes_a_stopped_edition() -> None:
    edition = edition_in(S.APPROVED)
    assert edition_states.edition_mark_sending(edition_id=edition.pk, now=NOON)
    assert not edition_states.edition_mark_sending(edition_id=edition.pk, now=NOON)  # already sending
    # Sent, then fanned out again to a later time zone: sending again, since the first start.
    assert edition_states.edition_mark_sent(edition_id=edition.pk, now=NOON, recipient_count=1)
    assert edition_states.edition_mark_sending(edition_id=edition.pk, now=NOON + timedelta(hours=5))
    edition.refresh_from_db()
    assert (edition.status, edition.send_started_at) == (S.SENDING, NOON)
    for days, status in enumerate(edition_states.STOPPED, start=1):
        stopped = make_edition(date=DAY - timedelta(days=days), status=status)
        assert not edition_states.edition_mark_sending(edition_id=stopped.pk, now=NOON)


def test_sent_only_from_sending_with_the_recipient_count() -> None:
    edition = edition_in(S.HELD)
    assert not edition_states.edition_mark_sent(edition_id=edition.pk, now=NOON, recipient_count=3)
    Edition.objects.filter(pk=edition.pk).update(status=S.SENDING)
    assert edition_states.edition_mark_sent(edition_id=edition.pk, now=NOON, recipient_count=3)
    edition.refresh_from_db()
    assert (edition.status, edition.recipient_count, edition.sent_at) == (S.SENT, 3, NOON)
