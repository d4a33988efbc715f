"""Every typed date is checked against one range, 1991-01-01 to a year from today, with the range in the message."""

from __future__ import annotations

import argparse
from datetime import date, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from config.dates import EARLIEST, check_date, cli_date, date_bounds
from digest.models import DigestDocument, Edition

TODAY = date(2026, 3, 14)


def test_the_bounds_are_included_and_the_message_gives_them() -> None:
    earliest, latest = date_bounds(today=TODAY)
    assert (earliest, latest) == (EARLIEST, date(2027, 3, 15))
    assert check_date(earliest, today=TODAY) == earliest
    assert check_date(latest, today=TODAY) == latest
    for outside in (earliest - timedelta(days=1), latest + timedelta(days=1), date.min, date.max):
        with pytest.raises(ValidationError) as caught:
            check_date(outside, today=TODAY)
        assert caught.value.messages == [
            f"{outside.isoformat()} is out of range: choose a date from 1991-01-01 to 2027-03-15."
        ]


@time_machine.travel("2026-03-14 12:00Z", tick=False)
def test_command_dates_are_parsed_and_range_checked() -> None:
    assert cli_date("2026-03-14") == TODAY
    with pytest.raises(argparse.ArgumentTypeError, match="'14/03/2026' is not a date like 2025-03-14"):
        cli_date("14/03/2026")
    with pytest.raises(argparse.ArgumentTypeError, match="is not a date like"):
        cli_date("2026-02-30")
    with pytest.raises(argparse.ArgumentTypeError, match="0001-01-01 is out of range: choose a date from 1991-01-01"):
        cli_date("0001-01-01")
    # A megabyte of junk is quoted by its first few characters only.
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        cli_date("x" * 1_000_000)
    assert len(str(caught.value)) < 100


@pytest.mark.django_db
@pytest.mark.parametrize(
    "command",
    [
        ["build_edition", "--date", "0001-01-01"],
        ["send_edition", "--date", "0001-01-01"],
        ["ingest", "--date", "0001-01-01", "nowhere.txt"],
    ],
)
def test_commands_refuse_a_date_out_of_range_before_doing_anything(command: list[str]) -> None:
    # This was an OverflowError traceback from build_edition (0001-01-01 minus the 7-day window).
    with pytest.raises(CommandError, match=r"argument --date: 0001-01-01 is out of range: choose a date from 1991"):
        call_command(*command)
    assert not Edition.objects.exists()
    assert not DigestDocument.objects.exists()
