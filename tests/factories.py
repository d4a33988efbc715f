"""Small factories for the digest models, so a test states only what it cares about.

Plain functions rather than a factory library: each returns a saved row and takes keyword overrides.
"""

from __future__ import annotations

import hashlib
import itertools
from datetime import date
from typing import Any

from digest.models import Appearance, DigestDocument, Edition, EditionEntry, Paper

_counter = itertools.count(1)


def make_document(*, listed_date: date | None = None, **fields: Any) -> DigestDocument:
    n = next(_counter)
    raw = fields.pop("raw", f"document {n} {listed_date}".encode())
    defaults: dict[str, Any] = {
        "origin": f"test://document/{n}",
        "listed_date": listed_date,
        "raw": raw,
        "size": len(raw),
        "sha256": hashlib.sha256(raw + str(n).encode()).hexdigest(),
        "status": DigestDocument.Status.PARSED,
    }
    defaults.update(fields)
    return DigestDocument.objects.create(**defaults)


def make_paper(**fields: Any) -> Paper:
    n = next(_counter)
    title = fields.pop("title", f"A study of things number {n}")
    defaults: dict[str, Any] = {
        "arxiv_id": f"2503.{n:05d}",
        "title": title,
        "title_key": " ".join(title.lower().split())[:500],
        "abstract": f"We study things, number {n}, and find results.",
        "authors": ["Ada Lovelace", "Alan Turing"],
    }
    defaults.update(fields)
    return Paper.objects.create(**defaults)


def make_appearance(
    *,
    paper: Paper,
    listed_date: date,
    upvotes: int | None = None,
    position: int = 1,
    document: DigestDocument | None = None,
) -> Appearance:
    """A paper seen on a page listing ``listed_date``; keeps the paper's counters as ingestion would."""
    document = document or make_document(listed_date=listed_date)
    appearance = Appearance.objects.create(
        paper=paper, document=document, listed_date=listed_date, position=position, upvotes=upvotes
    )
    paper.appearance_count += 1
    paper.first_seen = min(filter(None, [paper.first_seen, listed_date]))
    paper.last_seen = max(filter(None, [paper.last_seen, listed_date]))
    if upvotes is not None:
        paper.upvotes = upvotes
    paper.save(update_fields=["appearance_count", "first_seen", "last_seen", "upvotes"])
    return appearance


def make_seen_paper(*, listed_date: date, upvotes: int | None = None, times: int = 1, **fields: Any) -> Paper:
    """A paper seen ``times`` times on pages listing ``listed_date``."""
    paper = make_paper(**fields)
    for _ in range(times):
        make_appearance(paper=paper, listed_date=listed_date, upvotes=upvotes)
    return paper


def make_edition(*, date: date, papers: list[Paper] | None = None, **fields: Any) -> Edition:
    """An edition with the given papers as entries in that order (bypassing scoring)."""
    papers = papers or []
    edition = Edition.objects.create(date=date, **fields)
    EditionEntry.objects.bulk_create(
        EditionEntry(edition=edition, paper=paper, position=i, score=float(len(papers) - i))
        for i, paper in enumerate(papers, start=1)
    )
    return edition
