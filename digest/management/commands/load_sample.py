"""``manage.py load_sample``: the project's sample pages, ingested once (``make run`` calls it every start)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from digest.publishing import sample_edition_publish
from digest.sample import load_sample


class Command(BaseCommand):
    help = "Load the sample digest pages (idempotent: a second run changes nothing)."

    def handle(self, *args: str, **options: object) -> None:
        today = timezone.localdate()
        results = load_sample(today=today)
        for result in results:
            self.stdout.write(result.describe())
        failed = [result for result in results if result.failed]
        if failed:
            raise CommandError(f"{len(failed)} sample documents failed to load")
        edition = sample_edition_publish(day=today)
        if edition is not None:
            self.stdout.write(f"{edition} built and approved from the sample: {edition.entries.count()} papers")
