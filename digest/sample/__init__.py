"""Sample digest pages written for this project (fictional papers), so a fresh install has something to show.

Two plain-text pages and one API JSON page that overlap, as real days do. They carry no date of their own: each is
listed on a day counted back from the day it is loaded, which keeps them inside the trending window of a fresh
install. Loading twice changes nothing, because the bytes (and so their sha256) are the same.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from digest.ingest import IngestResult, ingest_bytes

SAMPLE_DIR = Path(__file__).resolve().parent
# (file, days before the load day it is listed on)
SAMPLE_PAGES: tuple[tuple[str, int], ...] = (("day-1.txt", 2), ("day-2.txt", 1), ("api.json", 0))


def load_sample(*, today: date) -> list[IngestResult]:
    return [
        ingest_bytes(
            (SAMPLE_DIR / name).read_bytes(),
            origin=f"sample:{name}",
            listed_date=today - timedelta(days=days_back),
            today=today,
        )
        for name, days_back in SAMPLE_PAGES
    ]
