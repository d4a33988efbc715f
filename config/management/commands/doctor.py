from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from config.doctor import run_all


class Command(BaseCommand):
    help = "Check the configuration this process would run with: database, broker, ESP, SITE_URL, sender."

    def handle(self, *args: Any, **options: Any) -> None:
        findings = run_all()
        for finding in findings:
            if not finding.ok:
                label, style = "FAIL", self.style.ERROR
            elif finding.warning:
                label, style = "WARN", self.style.WARNING
            else:
                label, style = " ok ", self.style.SUCCESS
            self.stdout.write(f"{style(label)} {finding.name}: {finding.detail}")
            if finding.fix and (not finding.ok or finding.warning):
                self.stdout.write(f"     fix: {finding.fix}")
        failed = [f for f in findings if not f.ok]
        if failed:
            raise CommandError(f"{len(failed)} problem(s) to fix before this configuration can send.")
        self.stdout.write(self.style.SUCCESS("All checks passed: this configuration can send."))
