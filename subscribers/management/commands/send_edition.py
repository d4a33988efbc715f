from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from config.dates import cli_date
from digest.edition_states import STOPPED
from digest.models import Edition, Frequency
from digest.sendable import Unsendable, edition_sendability
from subscribers.brake import Level, brake_enforce, brake_override, brake_state
from subscribers.delivery.operator import (
    Settle,
    SettleRefused,
    edition_in_doubt,
    edition_send_now,
    edition_send_plan,
    edition_send_prepare,
    edition_settle_in_doubt,
)
from subscribers.tasks.sending import enqueue_batches


class Command(BaseCommand):
    help = (
        "Send an edition to every active subscriber who has not had it, now (ignoring send hour and time zones). "
        "In this process with a progress bar by default; --enqueue hands the chunks to the Celery workers. "
        "Idempotent: a re-run sends only what is still unsent. Refuses (exit status 1) an edition with no papers, "
        "a daily edition with no page ingested since the previous one (unless given --allow-stale), and anything "
        "while the complaint-rate brake has paused sending (unless given --force). --settle-in-doubt concludes an "
        "edition left sending by deliveries in doubt (ambiguous)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", type=cli_date, help="YYYY-MM-DD; default: today (UTC).")
        parser.add_argument("--frequency", choices=Frequency.values, default=Frequency.DAILY)
        parser.add_argument("--dry-run", action="store_true", help="Say who would get it; send nothing.")
        parser.add_argument("--enqueue", action="store_true", help="Fan out to the Celery workers instead.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Send this edition even though the complaint-rate brake has paused sending (the pause stays on for "
            "everything else until a curator resumes it in the admin).",
        )

        parser.add_argument(
            "--allow-stale",
            action="store_true",
            help="Send a daily edition even though no page was ingested since the previous one (it repeats that "
            "list). An edition with no papers is never sent.",
        )
        parser.add_argument(
            "--settle-in-doubt",
            choices=[how.value for how in Settle],
            help="Once nothing else is queued or being sent, settle the deliveries left in doubt (the ESP may or may "
            "not have them; NEWSLETTER_RESEND_AMBIGUOUS off): 'sent' counts them as sent and never sends them again, "
            "'resend' sends them once more (a reader may get it twice), then the edition finishes. Refused (exit "
            "status 1) when nothing is in doubt.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        day = options["date"] or timezone.now().date()
        edition = Edition.objects.filter(date=day, frequency=options["frequency"]).first()
        if edition is None:
            raise CommandError(f"No {options['frequency']} edition for {day}: run build_edition first.")
        if options["settle_in_doubt"] == Settle.SENT:
            self._settle_as_sent(edition, dry_run=options["dry_run"])
            return
        verdict = edition_sendability(edition=edition, allow_stale=options["allow_stale"])
        if not verdict.ok:
            hint = " Pass --allow-stale to send it anyway." if verdict.problem is Unsendable.STALE else ""
            raise CommandError(f"Not sending: {verdict.reason}{hint}")
        edition = self._brake(edition, force=options["force"], dry_run=options["dry_run"])
        if edition.status in STOPPED:
            raise CommandError(f"{edition} is {edition.status}: set it back to draft or approve it first.")
        if options["settle_in_doubt"] == Settle.RESEND:
            self._settle_resend(edition, dry_run=options["dry_run"])
        plan = edition_send_plan(edition=edition)
        if plan.approval_pending:
            self.stdout.write(
                self.style.WARNING(f"{edition} is {edition.status}, not approved: sending anyway, as asked by name.")
            )
        self.stdout.write(f"{edition}: {plan.new_recipients} new recipients, {plan.waiting} waiting from before.")
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing sent.")
            return
        now = timezone.now()
        if options["enqueue"]:
            with transaction.atomic():
                batch = edition_send_prepare(edition=edition, now=now, force=options["force"])
                chunks = enqueue_batches([batch])
            self.stdout.write(f"Enqueued {chunks} chunks ({batch.size} subscribers) for the workers.")
            return
        with tqdm(total=plan.new_recipients + plan.waiting, unit="email", file=sys.stderr) as bar:
            total = edition_send_now(
                edition=edition, now=now, on_chunk=lambda result, size: bar.update(size), force=options["force"]
            )
        self.stdout.write(
            f"Sent {total.sent}, skipped {total.skipped} (no longer active), failed {total.failed}, "
            f"ambiguous {total.ambiguous}."
        )
        if total.retry:
            raise CommandError(f"Some chunks are still unsent after retries ({total.error}); run the command again.")

    def _settle_as_sent(self, edition: Edition, *, dry_run: bool) -> None:
        """Nothing is sent: neither the brake nor the edition's sendability has a say."""
        if dry_run:
            self._settle_dry_run(edition)
            return
        try:
            settled = edition_settle_in_doubt(edition=edition, how=Settle.SENT, now=timezone.now())
        except SettleRefused as exc:
            raise CommandError(str(exc)) from exc
        edition.refresh_from_db()
        self.stdout.write(
            f"Counted {settled} in-doubt deliveries as sent; nothing sent again. {edition} is {edition.status}."
        )

    def _settle_resend(self, edition: Edition, *, dry_run: bool) -> None:
        """Back in the queue, for the send that follows (in this process or the workers) to send once more."""
        if dry_run:
            self._settle_dry_run(edition)
            return
        try:
            settled = edition_settle_in_doubt(edition=edition, how=Settle.RESEND, now=timezone.now())
        except SettleRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Sending {settled} in-doubt deliveries again (a reader may get this edition twice).")

    def _settle_dry_run(self, edition: Edition) -> None:
        found = edition_in_doubt(edition=edition)
        self.stdout.write(
            f"{edition}: {found.in_doubt} deliveries in doubt, {found.unfinished} queued or being sent. "
            "Dry run: nothing settled."
        )

    def _brake(self, edition: Edition, *, force: bool, dry_run: bool) -> Edition:
        """Refuse while the complaint-rate brake is engaged, unless forced; a dry run only reports it."""
        now = timezone.now()
        if dry_run:  # reports, trips nothing
            state = brake_state(now=now)
            if state.paused or state.level is Level.PAUSE:
                self.stdout.write(self.style.WARNING(f"{state.reason or state.verdict} A real run needs --force."))
            return edition
        state = brake_enforce(now=now)
        if not state.paused:
            return edition
        if not force:
            raise CommandError(
                f"{state.reason} Resume sending in the admin (dashboard or the edition's page) once the cause is "
                "dealt with, or pass --force to send this edition anyway."
            )
        self.stdout.write(self.style.WARNING(f"{state.reason} Sending {edition} anyway (--force)."))
        return brake_override(edition=edition, now=now)
