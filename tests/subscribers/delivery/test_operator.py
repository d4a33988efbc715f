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
from subscribers.models import Delivery, Subscriber
from tests.factories import make_edition, make_seen_paper
from tests.subscribers.delivery.helpers import TODAY, sent_to
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
