"""Subscribers in and out as CSV.

Import: every row is checked first (address, frequency, keywords, time zone, consent date); bad rows are reported
with their line and reason and nothing of them is stored. The good rows are then inserted in one transaction:
a crash imports none of them, a re-run imports none twice. An address already on the list is left exactly as it
is (an import must not resubscribe someone who left), and a suppressed address is skipped. Rows with a recorded
consent (``consent_at``) arrive active; the others arrive pending and get the confirmation email, as if they had
signed up on the form.

Export writes the same columns, so an export can be imported elsewhere, with spreadsheet formulas defused.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from config.dates import check_date
from digest.models import Frequency
from subscribers.curation import enqueue_confirmations
from subscribers.models import Subscriber, Suppression
from subscribers.models.subscriber import new_token_key
from subscribers.services import (
    BLOCKING_SUPPRESSIONS,
    CONSENT_SOURCE_MAX_LENGTH,
    email_hash,
    normalize_email,
    parse_keywords,
    valid_time_zones,
)

IMPORT_COLUMNS = ["email", "frequency", "keywords", "time_zone", "consent_at", "consent_source", "consent_text"]
EXPORT_COLUMNS = ["email", "status", *IMPORT_COLUMNS[1:], "created_at", "confirmed_at", "unsubscribed_at"]
MAX_ROWS = 200_000
MAX_FIELD_CHARS = 10_000
BATCH = 1000
# A cell starting with one of these is a formula to Excel / LibreOffice / Sheets ("CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ImportFileError(Exception):
    """The file as a whole cannot be imported (not CSV, no email column, too many rows)."""


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    value: str
    reason: str


@dataclass
class ImportReport:
    rows: int = 0
    created_active: list[int] = field(default_factory=list)
    created_pending: list[int] = field(default_factory=list)
    existing: int = 0
    suppressed: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def created(self) -> list[int]:
        return self.created_active + self.created_pending

    def summary(self) -> str:
        return (
            f"{self.rows} rows: {len(self.created_active)} added as active, {len(self.created_pending)} added as "
            f"pending (confirmation sent), {self.existing} already on the list (unchanged), {self.suppressed} "
            f"suppressed (skipped), {len(self.errors)} rejected."
        )


@dataclass(frozen=True, slots=True)
class _Row:
    email: str
    frequency: str
    keywords: list[str]
    time_zone: str
    consent_at: datetime | None
    consent_source: str
    consent_text: str


def _cell(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    return value.strip() if isinstance(value, str) else ""


def _undefuse(value: str) -> str:
    """Undo export's formula guard, so an exported file imports back to the same keywords."""
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_START) else value


def _parse_consent_at(raw: str, *, now: datetime) -> datetime | None:
    if not raw:
        return None
    try:
        # Both parsers raise ValueError for a well-formed impossible date such as 2025-02-30.
        moment = parse_datetime(raw)
        day = parse_date(raw) if moment is None else moment.date()
    except ValueError:
        day = None
    if day is None:
        raise ValidationError("consent_at is not an ISO 8601 date or date-time.")
    if moment is None:
        moment = datetime.combine(day, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    if moment > now:
        raise ValidationError("consent_at lies in the future.")
    try:
        check_date(day)
    except ValidationError as exc:
        raise ValidationError(f"consent_at {exc.messages[0]}") from None
    return moment


def _parse_row(record: dict[str, Any], *, now: datetime, default_source: str, default_text: str) -> _Row:
    if None in record:  # csv.DictReader puts surplus cells under the key None
        raise ValidationError("more cells than the header has columns.")
    if any(isinstance(v, str) and len(v) > MAX_FIELD_CHARS for v in record.values()):
        raise ValidationError(f"a cell is longer than {MAX_FIELD_CHARS} characters.")
    email = normalize_email(_undefuse(_cell(record, "email")))
    frequency = _cell(record, "frequency").lower() or Frequency.DAILY
    if frequency not in Frequency.values:
        raise ValidationError(f"frequency must be one of {', '.join(Frequency.values)}.")
    keywords = parse_keywords(_undefuse(_cell(record, "keywords")))
    time_zone = _cell(record, "time_zone") or "UTC"
    if time_zone not in valid_time_zones():
        raise ValidationError(f"unknown time zone {time_zone!r}.")
    consent_at = _parse_consent_at(_cell(record, "consent_at"), now=now)
    consent_text = _cell(record, "consent_text")
    if consent_at is not None and not (consent_text or default_text):
        raise ValidationError("consent_at is given but not what was agreed to (consent_text).")
    return _Row(
        email=email,
        frequency=frequency,
        keywords=keywords,
        time_zone=time_zone,
        consent_at=consent_at,
        consent_source=(_cell(record, "consent_source") or default_source)[:CONSENT_SOURCE_MAX_LENGTH],
        consent_text=consent_text or default_text,
    )


def _chunks(items: list[str], size: int = BATCH) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _existing_emails(emails: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(emails):
        # Matches the unique index on LOWER(email): an index probe per address, not a scan.
        rows = Subscriber.objects.alias(email_lower=Lower("email")).filter(email_lower__in=chunk)
        found.update(email.lower() for email in rows.values_list("email", flat=True))
    return found


def _suppressions(emails: list[str]) -> dict[str, str]:
    by_hash = {email_hash(email): email for email in emails}
    found: dict[str, str] = {}
    for chunk in _chunks(list(by_hash)):
        for digest, reason in Suppression.objects.filter(email_hash__in=chunk).values_list("email_hash", "reason"):
            found[by_hash[digest]] = reason
    return found


def _is_blocked(reason: str | None, *, with_consent: bool) -> bool:
    if reason is None:
        return False
    # Someone who had their data erased may come back through double opt-in, but an old consent record
    # imported from elsewhere does not outlive their request.
    return reason in BLOCKING_SUPPRESSIONS or (reason == Suppression.Reason.DELETED and with_consent)


def import_subscribers(
    *,
    stream: IO[str],
    consent_source: str,
    consent_text: str = "",
    notify: Callable[[list[int]], None] = enqueue_confirmations,
) -> ImportReport:
    """Import subscribers from a CSV text stream with a header row that has at least an ``email`` column.

    ``consent_source`` / ``consent_text`` are the defaults for rows that do not say (e.g. "import: list.csv").
    ``notify`` receives the new pending subscribers' ids after the transaction commits.
    """
    reader = csv.DictReader(stream)
    try:
        header = [name.strip().lower() for name in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise ImportFileError(f"not a CSV file: {exc}") from exc
    if "email" not in header:
        raise ImportFileError("the first row must be a header with an “email” column.")
    reader.fieldnames = header
    now = timezone.now()
    report = ImportReport()
    rows: dict[str, _Row] = {}
    try:
        for record in reader:
            report.rows += 1
            if report.rows > MAX_ROWS:
                raise ImportFileError(f"more than {MAX_ROWS} rows: split the file.")
            line = reader.line_num
            try:
                row = _parse_row(record, now=now, default_source=consent_source, default_text=consent_text)
            except ValidationError as exc:
                report.errors.append(RowError(line, _cell(record, "email")[:254], "; ".join(exc.messages)))
                continue
            if row.email in rows:
                report.errors.append(RowError(line, row.email, "the same address appears earlier in the file."))
                continue
            rows[row.email] = row
    except csv.Error as exc:
        raise ImportFileError(f"line {reader.line_num}: {exc}") from exc

    with transaction.atomic():
        emails = list(rows)
        existing = _existing_emails(emails)
        suppressed = _suppressions([e for e in emails if e not in existing])
        new: list[Subscriber] = []
        for email, row in rows.items():
            if email in existing:
                report.existing += 1
                continue
            if _is_blocked(suppressed.get(email), with_consent=row.consent_at is not None):
                report.suppressed += 1
                continue
            new.append(_new_subscriber(row, now=now))
        # A sign-up committed between the check and here would collide on the unique address: it wins, the
        # import skips it (and counts it as existing below) rather than failing the whole file.
        Subscriber.objects.bulk_create(new, batch_size=BATCH, ignore_conflicts=True)
        tokens = {subscriber.email: subscriber.token_key for subscriber in new}
        for chunk in _chunks(list(tokens)):
            inserted = (
                Subscriber.objects.alias(email_lower=Lower("email"))
                .filter(email_lower__in=chunk)
                .values_list("pk", "email", "token_key", "status")
            )
            for pk, email, token_key, status in inserted:
                if tokens.get(email) != token_key:
                    continue  # someone else's row for this address
                target = report.created_active if status == Subscriber.Status.ACTIVE else report.created_pending
                target.append(pk)
        report.existing += len(new) - len(report.created)
        pending = list(report.created_pending)
        if pending:
            transaction.on_commit(lambda: notify(pending))
    return report


def _new_subscriber(row: _Row, *, now: datetime) -> Subscriber:
    consented = row.consent_at is not None
    return Subscriber(
        email=row.email,
        token_key=new_token_key(),
        status=Subscriber.Status.ACTIVE if consented else Subscriber.Status.PENDING,
        status_changed_at=now,
        confirmed_at=row.consent_at if consented else None,
        confirmation_sent_at=None if consented else now,
        frequency=row.frequency,
        keywords=row.keywords,
        time_zone=row.time_zone,
        consent_at=row.consent_at,
        consent_source=row.consent_source,
        consent_text=row.consent_text if consented else "",
    )


# --- Export ------------------------------------------------------------------------------------------------


def _defuse(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _stamp(value: datetime | None) -> str:
    return value.isoformat() if value else ""


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


def export_rows(*, queryset: QuerySet[Subscriber]) -> Iterator[str]:
    """CSV lines (header first) for the subscribers of ``queryset``, streamed from a server-side cursor."""
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    fields = ["email", "status", "frequency", "keywords", "time_zone", "consent_at", "consent_source"]
    fields += ["consent_text", "created_at", "confirmed_at", "unsubscribed_at"]
    for s in queryset.order_by("pk").only(*fields).iterator(chunk_size=2000):
        yield writer.writerow(
            [
                _defuse(s.email),
                s.status,
                s.frequency,
                _defuse("; ".join(s.keywords or [])),
                s.time_zone,
                _stamp(s.consent_at),
                _defuse(s.consent_source),
                _defuse(s.consent_text),
                _stamp(s.created_at),
                _stamp(s.confirmed_at),
                _stamp(s.unsubscribed_at),
            ]
        )


def export_csv(*, queryset: QuerySet[Subscriber]) -> str:
    """The whole export as one string (for tests and small lists; the admin streams ``export_rows``)."""
    out = io.StringIO()
    for line in export_rows(queryset=queryset):
        out.write(line)
    return out.getvalue()
