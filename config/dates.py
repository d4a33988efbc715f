"""The one range every date typed into this service must fall in: admin forms, commands, imported files.

``date`` reaches from year 1 to 9999, but the trending window and the archive do arithmetic on it (0001-01-01
minus a 7-day window is an ``OverflowError``), and a year like 2205 is a typo, never an edition. So a typed date
is refused with the range in the message, before any service computes with it.
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

# arXiv opened in 1991: no paper, digest page, edition or sign-up this service deals with is older.
EARLIEST = date(1991, 1, 1)
# Editions are built ahead of their day (tomorrow's by default); a year ahead is the most that is plausible.
DAYS_AHEAD = 366


def date_bounds(*, today: date | None = None) -> tuple[date, date]:
    """(earliest, latest) accepted date, both included."""
    return EARLIEST, (today or timezone.localdate()) + timedelta(days=DAYS_AHEAD)


def check_date(value: date, *, today: date | None = None) -> date:
    """``value`` if it lies in the accepted range; ``ValidationError`` saying the range otherwise."""
    earliest, latest = date_bounds(today=today)
    if not earliest <= value <= latest:
        raise ValidationError(
            "%(value)s is out of range: choose a date from %(earliest)s to %(latest)s.",
            code="date_range",
            params={"value": value.isoformat(), "earliest": earliest.isoformat(), "latest": latest.isoformat()},
        )
    return value


def cli_date(raw: str) -> date:
    """An ``argparse`` type: a YYYY-MM-DD date in the accepted range, or a usage error that says why."""
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw[:40]!r} is not a date like 2025-03-14") from None
    try:
        return check_date(value)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(exc.messages[0]) from None


class RangedDateField(forms.DateField):
    """A form's date field that refuses dates outside the accepted range with the range in the message."""

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value not in self.empty_values:
            check_date(value)
