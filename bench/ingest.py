"""Ingestion benchmark: a year of daily trending pages (365 x 50 papers) in each format, on SQLite and PostgreSQL.

Pages overlap as real ones do: a paper stays on the list for about three days and moves around in it, so most
rows of a page are updates of papers already stored. Each (database, format) pair runs in a fresh process on a
fresh database (SQLite in a temporary folder; PostgreSQL in a ``bench_ingest`` database created and dropped on the
server of ``DATABASE_URL``, default ``postgres://postgres@127.0.0.1:5432/postgres``), so peak memory is that run's.

    .venv/bin/python bench/ingest.py [--days 365] [--per-page 50] [--formats text,html,json,feed]
                                     [--databases sqlite,postgresql]

Goal: the year in <= 15 s on PostgreSQL on the 2-core reference machine.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "bench_ingest"
START = date(2025, 1, 1)
NEW_PER_DAY = 15  # with 50 per page: each paper is listed on ~3.3 days

_WORDS = [
    "adaptive",
    "sparse",
    "latent",
    "diffusion",
    "token",
    "graph",
    "robust",
    "scalable",
    "efficient",
    "contrastive",
    "multimodal",
    "agent",
    "policy",
    "transformer",
    "memory",
    "retrieval",
    "reasoning",
    "vision",
    "language",
    "reward",
    "planning",
    "benchmark",
    "dataset",
    "federated",
    "causal",
    "spectral",
    "neural",
    "implicit",
    "streaming",
    "quantized",
    "distilled",
    "hierarchical",
    "temporal",
]


# --- Generating the pages ----------------------------------------------------------------------------------


def _paper(index: int) -> dict[str, object]:
    rng = random.Random(index)
    title = " ".join(rng.choice(_WORDS).capitalize() for _ in range(rng.randint(5, 11)))
    sentences = [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(12, 24))).capitalize() + "." for _ in range(8)]
    return {
        "id": f"{2500 + index // 90000}.{10000 + index % 90000:05d}",
        "title": f"{title} {index}",
        "abstract": " ".join(sentences),
        "authors": [f"Author {rng.randint(1, 5000)}" for _ in range(rng.randint(2, 8))],
    }


def _day_papers(day: int, per_page: int) -> list[tuple[dict[str, object], int]]:
    rng = random.Random(10_000 + day)
    indices = list(range(day * NEW_PER_DAY, day * NEW_PER_DAY + per_page))
    rng.shuffle(indices)
    return [(_paper(i), rng.randint(0, 300)) for i in indices]


def _wrap(text: str, width: int = 78) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n  ".join([*lines, line])


def render(fmt: str, listed: date, papers: list[tuple[dict[str, object], int]]) -> bytes:
    if fmt == "text":
        header = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nbyAK and the research community\n\n"
        body = "".join(f"{p['title']}\n\n{p['abstract']}\n\n" for p, _ in papers)
        return (header + listed.strftime("%b ") + str(listed.day) + "\n\n" + body).encode()
    items = [
        {
            "paper": {
                "id": p["id"],
                "title": _wrap(str(p["title"])),
                "summary": _wrap(str(p["abstract"])),
                "authors": [{"name": name} for name in p["authors"]],  # type: ignore[union-attr]
                "upvotes": upvotes,
                "publishedAt": f"{listed - timedelta(days=2)}T10:00:00.000Z",
            },
            "publishedAt": f"{listed}T08:00:00.000Z",
            "title": p["title"],
        }
        for p, upvotes in papers
    ]
    if fmt == "json":
        return json.dumps(items).encode()
    if fmt == "html":
        props = html.escape(json.dumps({"date": str(listed), "dailyPapers": items}), quote=True)
        cards = "".join(
            f'<article><div class="upvotes">{upvotes}</div><h3><a href="/papers/{p["id"]}">'
            f"{html.escape(str(p['title']))}</a></h3></article>"
            for p, upvotes in papers
        )
        return (
            f"<!DOCTYPE html><html><head><title>Daily Papers</title></head><body><h1>{listed:%b} {listed.day}</h1>"
            f'<div data-target="DailyPapers" data-props="{props}">{cards}</div></body></html>'
        ).encode()
    entries = "".join(
        f"<item><title>{html.escape(str(p['title']))}</title><link>https://arxiv.org/abs/{p['id']}v1</link>"
        f"<description>arXiv:{p['id']}v1 Announce Type: new Abstract: {html.escape(str(p['abstract']))}"
        f"</description><dc:creator>{html.escape(', '.join(p['authors']))}</dc:creator>"  # type: ignore[arg-type]
        f"<pubDate>{listed:%a, %d %b %Y} 00:00:00 -0500</pubDate></item>"
        for p, _ in papers
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>cs updates</title><pubDate>{listed:%a, %d %b %Y} 00:00:00 -0500</pubDate>"
        f"{entries}</channel></rss>"
    ).encode()


# --- One measured run (a child process) --------------------------------------------------------------------


def run_child(fmt: str, days: int, per_page: int) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    from digest.ingest import ingest_bytes
    from digest.models import Paper

    call_command("migrate", verbosity=0)
    pages = [
        (START + timedelta(days=day), render(fmt, START + timedelta(days=day), _day_papers(day, per_page)))
        for day in range(days)
    ]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    failed = 0
    started = time.perf_counter()
    for listed, data in pages:
        result = ingest_bytes(
            data, origin=f"bench:{fmt}:{listed}", listed_date=listed, today=START + timedelta(days=days)
        )
        failed += result.failed
    elapsed = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "format": fmt,
                "pages": len(pages),
                "listed": len(pages) * per_page,
                "papers": Paper.objects.count(),
                "failed": failed,
                "seconds": elapsed,
                "bytes": sum(len(data) for _, data in pages),
                "peak_rss_mb": rss_after / 1024,
                "rss_growth_mb": (rss_after - rss_before) / 1024,
            }
        )
    )


# --- The driver --------------------------------------------------------------------------------------------


def _server_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith("postgres") else "postgres://postgres@127.0.0.1:5432/postgres"


def _bench_db_url() -> str:
    parts = urlsplit(_server_url())
    return urlunsplit(parts._replace(path=f"/{BENCH_DB}"))


def _recreate_pg(drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(_server_url(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        if not drop_only:
            conn.execute(f"CREATE DATABASE {BENCH_DB}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--per-page", type=int, default=50)
    parser.add_argument("--formats", default="text,html,json,feed")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.days, args.per_page)
        return 0

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        for database in args.databases.split(","):
            for fmt in args.formats.split(","):
                env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL")}
                var_dir = Path(tmp) / f"{database}-{fmt}"
                env.update(
                    DJANGO_SETTINGS_MODULE="config.settings",
                    VAR_DIR=str(var_dir),
                    DEBUG="0",  # DEBUG keeps every query in memory: not what production runs
                    SECRET_KEY="bench-only",
                    LOG_LEVEL="WARNING",
                )
                if database == "postgresql":
                    _recreate_pg()
                    env["DATABASE_URL"] = _bench_db_url()
                else:
                    env["DATABASE_URL"] = f"sqlite:///{var_dir / 'bench.sqlite3'}"
                try:
                    cmd = [sys.executable, __file__, "--child", fmt, "--days", str(args.days)]
                    cmd += ["--per-page", str(args.per_page)]
                    out = subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True, text=True).stdout
                finally:
                    if database == "postgresql":
                        _recreate_pg(drop_only=True)
                row = json.loads(out.strip().splitlines()[-1])
                row["database"] = database
                rows.append(row)
                _print_row(row)
    return 0 if all(row["failed"] == 0 for row in rows) else 1


def _print_row(row: dict[str, object]) -> None:
    seconds = float(row["seconds"])  # type: ignore[arg-type]
    print(
        f"{row['database']:<10} {row['format']:<5} {row['pages']} pages ({int(row['bytes']) / 1e6:.1f} MB), "  # type: ignore[call-overload]
        f"{row['listed']} listings -> {row['papers']} papers in {seconds:.2f} s: "
        f"{int(row['pages']) / seconds:.1f} pages/s, {int(row['listed']) / seconds:.0f} papers/s, "  # type: ignore[call-overload]
        f"peak RSS {float(row['peak_rss_mb']):.0f} MB (+{float(row['rss_growth_mb']):.0f} MB while ingesting)"  # type: ignore[arg-type]
        + (f", {row['failed']} FAILED" if row["failed"] else ""),
        flush=True,
    )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
