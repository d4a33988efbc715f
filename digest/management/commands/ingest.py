"""``manage.py ingest PATH-or-URL... [--date YYYY-MM-DD] [--format F] [--source NAME]``

Files, folders (recursively, in sorted order) and http(s) URLs. One line per document, then a summary; the exit
status is non-zero when any document failed, after all the others were ingested.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.dates import cli_date
from digest.http import FetchError, fetch_url
from digest.ingest import IngestResult, IngestStatus, ingest_bytes
from digest.models import DocumentFormat, Source


class Command(BaseCommand):
    help = "Ingest digest documents (files, folders, http(s) URLs) and upsert their papers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("targets", nargs="+", metavar="PATH-or-URL")
        parser.add_argument(
            "--date",
            type=cli_date,
            help="The day a page lists when it does not say; a date heading with no year ('Nov 6') is the latest "
            "such date on or before it (default: today).",
        )
        parser.add_argument("--format", choices=DocumentFormat.values, default=DocumentFormat.AUTO)
        parser.add_argument("--source", help="Name of the Source these documents come from.")

    def handle(self, *args: str, **options: object) -> None:
        source = None
        if options["source"]:
            source = Source.objects.filter(name=options["source"]).first()
            if source is None:
                raise CommandError(f"no Source named {options['source']!r} (create it in the admin first)")
        results: list[IngestResult] = []
        for target in options["targets"]:  # type: ignore[attr-defined]
            for origin, data, error in _documents(target):
                if error:
                    result = IngestResult(status=IngestStatus.FAILED, origin=origin, error=error)
                else:
                    result = ingest_bytes(
                        data,
                        origin=origin,
                        format=str(options["format"]),
                        listed_date=options["date"],  # type: ignore[arg-type]
                        source=source,
                    )
                results.append(result)
                self.stdout.write(result.describe())

        statuses = Counter(result.status for result in results)
        created = sum(result.papers_created for result in results)
        updated = sum(result.papers_updated for result in results)
        self.stdout.write(
            f"{len(results)} documents: {statuses[IngestStatus.CREATED]} created, "
            f"{statuses[IngestStatus.UNCHANGED]} unchanged, {statuses[IngestStatus.REPARSED]} reparsed, "
            f"{statuses[IngestStatus.FAILED]} failed; papers: {created} created, {updated} updated"
        )
        if statuses[IngestStatus.FAILED]:
            raise CommandError(f"{statuses[IngestStatus.FAILED]} of {len(results)} documents failed")


def _documents(target: str) -> Iterator[tuple[str, bytes, str]]:
    """(origin, bytes, error) for every document a target names; errors are reported, never raised."""
    if target.startswith(("http://", "https://")):
        try:
            fetched = fetch_url(target)
        except FetchError as exc:
            yield target, b"", str(exc)
            return
        yield target, fetched.content or b"", ""
        return
    path = Path(target)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files:
            yield target, b"", "folder holds no files"
        for file in files:
            yield _read(file)
    elif path.is_file():
        yield _read(path)
    elif path.exists():
        yield target, b"", "not a regular file or folder"
    else:
        yield target, b"", "no such file, folder or http(s) URL"


def _read(path: Path) -> tuple[str, bytes, str]:
    cap = settings.INGEST_MAX_BYTES
    try:
        size = path.stat().st_size
        # Judged before reading: a huge file is refused without loading it.
        if size > cap:
            return str(path), b"", f"file is {size:,} bytes, over the INGEST_MAX_BYTES cap of {cap:,}"
        return str(path), path.read_bytes(), ""
    except OSError as exc:
        return str(path), b"", f"cannot read: {exc.strerror or exc}"
