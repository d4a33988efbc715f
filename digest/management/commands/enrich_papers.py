"""``manage.py enrich_papers [--limit N] [--paper ID ...] [--fresh]``

Looks up, now and in this process, the papers still without an arXiv id (or the ones named), one line each, politely
spaced like the Celery task. Stops at the first rate limit or timeout and says how many are left (exit status 1);
those papers are untouched, and beat's enrich_unresolved will try them again.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from digest.enrichment import enrich_paper, lookup_forget, lookups_enabled, unresolved_paper_ids
from digest.lookups import LookupDeferred
from digest.models import Paper

# Run by a person who is watching: waiting a while for arXiv's next slot beats giving up.
COMMAND_MAX_WAIT = 120.0


class Command(BaseCommand):
    help = "Look up papers without an arXiv id by their exact title now (arXiv, then Hugging Face)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=100, help="At most this many papers (default 100).")
        parser.add_argument("--paper", type=int, action="append", default=[], help="This paper's id (repeatable).")
        parser.add_argument("--fresh", action="store_true", help="Ask again even where a miss is remembered.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not lookups_enabled():
            raise CommandError("title lookups are off: set ARXIV_API_URL and/or HF_API_URL")
        paper_ids = options["paper"] or unresolved_paper_ids(limit=max(options["limit"], 0))
        if options["fresh"]:
            lookup_forget(titles=list(Paper.objects.filter(pk__in=paper_ids).values_list("title", flat=True)))
        for index, paper_id in enumerate(paper_ids):
            try:
                result = enrich_paper(paper_id=paper_id, max_wait=COMMAND_MAX_WAIT)
            except LookupDeferred as exc:
                left = len(paper_ids) - index
                raise CommandError(f"stopped: {exc}; {left} paper(s) left unchanged for a later run") from None
            self.stdout.write(result.describe())
        self.stdout.write(f"{len(paper_ids)} paper(s) looked up")
