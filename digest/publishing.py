"""Which editions the public sees: the web archive and the feed read them through here."""

from __future__ import annotations

from datetime import date as Date

from django.db.models import Count, QuerySet

from digest.models import Edition

# Approved editions are public as soon as they are approved: the archive link in the email must work for the
# first recipient, who may get it while the edition is still sending.
PUBLIC_STATUSES = (Edition.Status.APPROVED, Edition.Status.SENDING, Edition.Status.SENT)


def public_editions() -> QuerySet[Edition]:
    return (
        Edition.objects.filter(status__in=PUBLIC_STATUSES)
        .annotate(entry_count=Count("entries"))
        .order_by("-date", "frequency")
    )


def public_edition(*, day: Date, frequency: str) -> Edition | None:
    return Edition.objects.filter(status__in=PUBLIC_STATUSES, date=day, frequency=frequency).first()
