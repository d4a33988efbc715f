"""The edition's part of ``/healthz``: a send that started and has not finished in time is worth a look."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from digest.models import Edition


def check_edition() -> dict[str, Any]:
    edition = Edition.objects.order_by("-date", "-id").only("date", "frequency", "status", "send_started_at").first()
    if edition is None:
        return {"ok": True, "edition": None}
    report: dict[str, Any] = {
        "ok": True,
        "date": edition.date.isoformat(),
        "frequency": edition.frequency,
        "status": edition.status,
    }
    stuck_after = timedelta(minutes=settings.EDITION_STUCK_MINUTES)
    if (
        edition.status == Edition.Status.SENDING
        and edition.send_started_at
        and timezone.now() - edition.send_started_at > stuck_after
    ):
        report["ok"] = False
        report["error"] = f"sending for more than {settings.EDITION_STUCK_MINUTES} minutes"
    return report
