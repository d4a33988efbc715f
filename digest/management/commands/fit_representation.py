from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from digest.representation import MAX_DIMS
from digest.vectors import representation_fit


class Command(BaseCommand):
    help = (
        "Fit the paper representation (tf-idf + truncated SVD) from the stored papers and give recent papers "
        "vectors under it. Offline: no network, no model download. Skips when no paper was added since the last fit."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="Fit even if no paper was added since the last fit.")
        parser.add_argument("--dims", type=int, default=MAX_DIMS, help=f"At most this many dimensions (<= {MAX_DIMS}).")

    def handle(self, *args: Any, **options: Any) -> None:
        dims = options["dims"]
        if not 2 <= dims <= MAX_DIMS:
            raise CommandError(f"--dims must be between 2 and {MAX_DIMS}, not {dims}")
        outcome = representation_fit(force=options["force"], max_dims=dims)
        if not outcome.fitted and outcome.version is None:
            raise CommandError(outcome.describe())
        self.stdout.write(outcome.describe())
