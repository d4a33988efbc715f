from __future__ import annotations

from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from digest.models import Edition, Frequency
from tests.factories import make_seen_paper

pytestmark = pytest.mark.django_db

DAY = date(2025, 3, 14)


def run(*args: str) -> str:
    out = StringIO()
    call_command("build_edition", *args, stdout=out)
    return out.getvalue()


def test_builds_the_named_date_and_lists_the_papers() -> None:
    make_seen_paper(listed_date=DAY, upvotes=10, title="Top paper")
    make_seen_paper(listed_date=DAY, upvotes=1, title="Second paper")

    output = run("--date", "2025-03-14")

    edition = Edition.objects.get(date=DAY, frequency=Frequency.DAILY)
    assert edition.entries.count() == 2
    assert "2 papers" in output
    assert output.index("Top paper") < output.index("Second paper")


def test_running_twice_changes_nothing() -> None:
    make_seen_paper(listed_date=DAY, upvotes=10)
    run("--date", "2025-03-14")
    before = list(Edition.objects.get().entries.values_list("paper_id", "position", "score"))
    run("--date", "2025-03-14")
    assert Edition.objects.count() == 1
    assert list(Edition.objects.get().entries.values_list("paper_id", "position", "score")) == before


def test_weekly(settings) -> None:
    make_seen_paper(listed_date=date(2025, 3, 9), upvotes=10)
    run("--date", "2025-03-14", "--frequency", "weekly")
    assert Edition.objects.get(frequency=Frequency.WEEKLY).entries.count() == 1


def test_a_sent_edition_is_refused_with_a_clear_error() -> None:
    make_seen_paper(listed_date=DAY)
    run("--date", "2025-03-14")
    Edition.objects.update(status=Edition.Status.SENT)
    with pytest.raises(CommandError, match="sent"):
        run("--date", "2025-03-14")


def test_defaults_to_today(time_machine) -> None:
    time_machine.move_to("2025-03-14 08:00:00+00:00")
    make_seen_paper(listed_date=DAY)
    run()
    assert Edition.objects.get().date == DAY


def test_bad_date_is_refused() -> None:
    with pytest.raises(CommandError):
        run("--date", "14/03/2025")
