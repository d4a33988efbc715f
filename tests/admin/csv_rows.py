"""A reproducible subscriber CSV with a known share of bad rows, for the import tests and the benchmark."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

# Each kind of bad row, in turn: what is wrong with it is what the importer must say.
BAD_ROWS = [
    ({"email": "not-an-address"}, "valid email"),
    ({"email": "two@@example.org"}, "valid email"),
    ({"email": ""}, "email"),
    ({"frequency": "hourly"}, "frequency"),
    ({"time_zone": "Mars/Olympus"}, "time zone"),
    ({"consent_at": "2999-01-01T00:00:00Z"}, "future"),
    ({"consent_at": "yesterday"}, "ISO 8601"),
    ({"consent_at": "2025-02-30"}, "ISO 8601"),
    ({"consent_at": "1900-01-01"}, "out of range"),
    ({"email": "dup"}, "appears earlier"),
]


@dataclass
class GeneratedCsv:
    text: str
    good: int
    good_active: int
    bad_lines: dict[int, str]  # line number -> expected fragment of the reason


def generate(rows: int = 10_000, *, bad_share: float = 0.03, domain: str = "example.org") -> GeneratedCsv:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=["email", "frequency", "keywords", "time_zone", "consent_at", "consent_source", "consent_text"]
    )
    writer.writeheader()
    bad_count = round(rows * bad_share)
    # Spread evenly through the file: the k-th bad row sits in the middle of the k-th slice.
    bad_at = {int((k + 0.5) * rows / bad_count): k for k in range(bad_count)}
    bad_lines: dict[int, str] = {}
    good = good_active = 0
    previous_email = f"person0@{domain}"
    for n in range(rows):
        consented = n % 2 == 0
        row = {
            "email": f"Person{n}@{domain.upper()}",  # normalized on the way in
            "frequency": "weekly" if n % 5 == 0 else "daily",
            "keywords": "diffusion; agents" if n % 3 == 0 else "",
            "time_zone": "Europe/Paris" if n % 7 == 0 else "",
            "consent_at": "2026-01-15T10:00:00+00:00" if consented else "",
            "consent_source": "old newsletter tool" if consented else "",
            "consent_text": "Send me the daily trending papers." if consented else "",
        }
        line = n + 2  # the header is line 1
        if n in bad_at:
            change, reason = BAD_ROWS[bad_at[n] % len(BAD_ROWS)]
            row.update(change)
            if row["email"] == "dup":
                row["email"] = previous_email
            bad_lines[line] = reason
        else:
            good += 1
            good_active += consented
            previous_email = row["email"]
        writer.writerow(row)
    return GeneratedCsv(text=out.getvalue(), good=good, good_active=good_active, bad_lines=bad_lines)
