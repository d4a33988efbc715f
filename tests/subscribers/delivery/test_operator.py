"""The operator's send: ``send_edition`` in this process, idempotent, refusing a stopped edition."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from digest.models import Edition
from subscribers.delivery.body import clear_body_cache
from subscribers.delivery.chunk import chunk_send
from subscribers.models import Delivery, Subscriber
from tests.factories import make_edition, make_seen_paper
from tests.subscribers.delivery.helpers import TODAY, fan_out, read_timeout, sent_to
from tests.subscribers.factories import make_subscriber


def test_send_edition_sends_a_draft_when_asked_by_name_and_is_idempotent(db, capsys) -> None:
    clear_body_cache()
    draft = make_edition(date=TODAY, papers=[make_seen_paper(listed_date=TODAY)], status=Edition.Status.DRAFT)
    subscribers = [make_subscriber() for _ in range(3)]
    make_subscriber(status=Subscriber.Status.PENDING)

    call_command("send_edition", "--date", TODAY.isoformat(), "--dry-run")
    out = capsys.readouterr().out
    assert "not approved: sending anyway" in out and "3 new recipients" in out and "nothing sent" in out
    assert mail.outbox == []

    call_command("send_edition", "--date", TODAY.isoformat())
    assert "Sent 3" in capsys.readouterr().out
    call_command("send_edition", "--date", TODAY.isoformat())
    assert "Sent 0" in capsys.readouterr().out
    assert sent_to() == Counter({s.email: 1 for s in subscribers})
    draft.refresh_from_db()
    assert draft.status == Edition.Status.SENT


def test_send_edition_refuses_a_held_edition(db) -> None:
    make_edition(date=TODAY, papers=[make_seen_paper(listed_date=TODAY)], status=Edition.Status.HELD)
    with pytest.raises(CommandError, match="held"):
        call_command("send_edition", "--date", TODAY.isoformat())


def test_send_edition_refuses_an_empty_edition_with_exit_status_1_and_sends_nothing(db) -> None:
    edition = make_edition(date=TODAY, status=Edition.Status.APPROVED)
    make_subscriber()
    for extra in ([], ["--allow-stale"], ["--force"], ["--enqueue"]):
        # manage.py prints a CommandError and exits with its returncode (run_from_argv closes the test's database
        # connection, so the command is called directly here).
        with pytest.raises(CommandError, match="has no papers: an empty newsletter is never sent") as refused:
            call_command("send_edition", "--date", TODAY.isoformat(), *extra)
        assert refused.value.returncode == 1
    assert mail.outbox == []
    assert not Delivery.objects.exists()
    edition.refresh_from_db()
    assert edition.status == Edition.Status.APPROVED and edition.send_started_at is None


def test_send_edition_refuses_a_stale_daily_edition_unless_allowed(db, settings, capsys) -> None:
    settings.NEWSLETTER_SKIP_STALE_DAILY = True
    clear_body_cache()
    paper = make_seen_paper(listed_date=TODAY)  # its page was ingested before either edition was built
    make_edition(date=TODAY, papers=[paper], status=Edition.Status.SENT, built_at=timezone.now())
    tomorrow = TODAY + timedelta(days=1)
    make_edition(date=tomorrow, papers=[paper], status=Edition.Status.APPROVED)
    reader = make_subscriber()
    with pytest.raises(CommandError, match=r"would repeat 2025-03-14's list.*--allow-stale"):
        call_command("send_edition", "--date", tomorrow.isoformat())
    assert mail.outbox == []
    call_command("send_edition", "--date", tomorrow.isoformat(), "--allow-stale")
    assert sent_to() == Counter({reader.email: 1})


# --- Settling deliveries left in doubt ------------------------------------------------------------------------


def _left_in_doubt(edition: Edition, scripted) -> tuple[Subscriber, Subscriber]:
    """One reader sent, one whose send timed out in flight: in doubt, and the edition stays sending."""
    sure, doubtful = make_subscriber(), make_subscriber()
    scripted[doubtful.email] = [read_timeout()]
    ids = fan_out(edition, [sure, doubtful])
    chunk_send(edition_id=edition.pk, first=min(ids), last=max(ids))
    assert Delivery.objects.get(subscriber=doubtful).status == Delivery.Status.AMBIGUOUS
    edition.refresh_from_db()
    assert edition.status == Edition.Status.SENDING
    assert (sent_to()[sure.email], sent_to()[doubtful.email]) == (1, 0)
    return sure, doubtful


def test_settle_in_doubt_as_sent_finishes_the_edition_and_sends_nobody_again(
    edition: Edition, scripted, capsys, caplog
) -> None:
    sure, doubtful = _left_in_doubt(edition, scripted)

    call_command("send_edition", "--date", TODAY.isoformat(), "--settle-in-doubt=sent", "--dry-run")
    assert "1 deliveries in doubt, 0 queued or being sent. Dry run: nothing settled." in capsys.readouterr().out
    assert Delivery.objects.get(subscriber=doubtful).status == Delivery.Status.AMBIGUOUS

    call_command("send_edition", "--date", TODAY.isoformat(), "--settle-in-doubt=sent")
    assert "Counted 1 in-doubt deliveries as sent; nothing sent again." in capsys.readouterr().out
    settled = [r for r in caplog.records if r.name == "subscribers.delivery.operator"]
    assert [(r.levelname, r.edition_id, r.settled, r.how) for r in settled] == [("WARNING", edition.pk, 1, "sent")]
    row = Delivery.objects.get(subscriber=doubtful)
    assert row.status == Delivery.Status.SENT and row.ambiguous_at is not None and row.sent_at == row.ambiguous_at
    assert row.last_error.startswith("in doubt, counted as sent by an operator; was: ")
    edition.refresh_from_db()
    assert (edition.status, edition.recipient_count) == (Edition.Status.SENT, 2)
    # Nothing more went to the ESP, then or on a later run.
    call_command("send_edition", "--date", TODAY.isoformat())
    assert sent_to() == Counter({sure.email: 1})


def test_settle_in_doubt_by_resending_sends_that_reader_exactly_once_more(edition: Edition, scripted, capsys):
    sure, doubtful = _left_in_doubt(edition, scripted)

    call_command("send_edition", "--date", TODAY.isoformat(), "--settle-in-doubt=resend")
    out = capsys.readouterr().out
    assert "Sending 1 in-doubt deliveries again" in out and "Sent 1," in out
    assert sent_to() == Counter({sure.email: 1, doubtful.email: 1})
    row = Delivery.objects.get(subscriber=doubtful)
    assert row.status == Delivery.Status.SENT and row.ambiguous_at is not None  # still counted as once in doubt
    edition.refresh_from_db()
    assert (edition.status, edition.recipient_count) == (Edition.Status.SENT, 2)
    # Settled: a second go finds nothing in doubt and sends nothing.
    with pytest.raises(CommandError, match="Nothing to settle"):
        call_command("send_edition", "--date", TODAY.isoformat(), "--settle-in-doubt=resend")
    assert sent_to() == Counter({sure.email: 1, doubtful.email: 1})


@pytest.mark.parametrize("how", ["sent", "resend"])
def test_settle_in_doubt_refuses_with_exit_status_1_when_nothing_is_in_doubt_or_the_send_goes_on(
    edition: Edition, scripted, how: str
) -> None:
    (only,) = fan_out(edition, [make_subscriber()])
    chunk_send(edition_id=edition.pk, first=only, last=only)
    with pytest.raises(CommandError, match=r"Nothing to settle: no delivery of .* is in doubt") as refused:
        call_command("send_edition", "--date", TODAY.isoformat(), f"--settle-in-doubt={how}")
    assert refused.value.returncode == 1

    # In doubt, but another reader is still queued: the send is not over, so nothing is settled yet.
    _, doubtful = _left_in_doubt(edition, scripted)
    fan_out(edition, [make_subscriber()])
    with pytest.raises(CommandError, match="still has 1 deliveries queued or being sent"):
        call_command("send_edition", "--date", TODAY.isoformat(), f"--settle-in-doubt={how}")
    assert Delivery.objects.get(subscriber=doubtful).status == Delivery.Status.AMBIGUOUS
    assert len(sent_to()) == 2  # the two readers sent before; nobody since
