from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from config.dates import cli_date
from digest.models import Frequency
from digest.trending import EditionFrozenError, edition_build


class Command(BaseCommand):
    help = "Build (or rebuild) the edition for a date from the papers seen in its window. Idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", type=cli_date, help="YYYY-MM-DD; default: today (UTC).")
        parser.add_argument("--frequency", choices=Frequency.values, default=Frequency.DAILY)

    def handle(self, *args: Any, **options: Any) -> None:
        day = options["date"] or timezone.now().date()
        try:
            edition = edition_build(date=day, frequency=options["frequency"])
        except EditionFrozenError as exc:
            raise CommandError(str(exc)) from exc
        entries = list(edition.entries.select_related("paper").order_by("position"))
        self.stdout.write(f"{edition} ({edition.status}): {len(entries)} papers")
        for entry in entries:
            self.stdout.write(f"{entry.position:>3}. {entry.score:7.3f}  {entry.paper.title[:90]}")
