"""The operator's send: ``send_edition`` in this process, idempotent, refusing a stopped edition."""

from __future__ import annotations

from collections import Counter

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError

from digest.models import Edition
from subscribers.delivery.body import clear_body_cache
from subscribers.models import Subscriber
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
    make_edition(date=TODAY, status=Edition.Status.HELD)
    with pytest.raises(CommandError, match="held"):
        call_command("send_edition", "--date", TODAY.isoformat())
