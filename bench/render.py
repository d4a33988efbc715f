"""Micro-benchmark of the per-recipient hot path: ``edition_message`` on a pre-rendered ``EditionBody``.

Runs on its own throw-away SQLite database (nothing else needed):

    .venv/bin/python bench/render.py [--messages 20000] [--papers 10]

Prints messages/s for building messages alone (with the sender's body, tracked links when ``TRACK_CLICKS`` is on,
and with plain links), for building + handing them to Anymail's test backend (no
transport) over one connection, and for building + serialising the full MIME message (what an SMTP or SES raw
send pays). Half the recipients have keywords, drawn from 40 distinct keyword sets.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = [
    "language",
    "model",
    "agents",
    "retrieval",
    "diffusion",
    "protein",
    "graph",
    "neural",
    "network",
    "reinforcement",
    "learning",
    "transformer",
    "attention",
    "scaling",
    "benchmark",
    "reasoning",
    "vision",
    "multimodal",
    "robot",
    "policy",
    "dataset",
    "evaluation",
    "alignment",
    "safety",
    "training",
    "inference",
    "efficient",
    "sparse",
    "mixture",
    "experts",
    "optimisation",
    "theory",
    "generalisation",
    "robustness",
]


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--papers", type=int, default=10)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench-render-")
    os.environ.update({"VAR_DIR": tmp, "EMAIL_BACKEND": "anymail.backends.test.EmailBackend", "LOG_LEVEL": "WARNING"})
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core import mail
    from django.core.mail import get_connection
    from django.core.management import call_command

    from digest.models import Appearance, DigestDocument, Paper
    from digest.rendering import edition_body
    from digest.trending import edition_build
    from subscribers.clicks.emailed import emailed_body
    from subscribers.messages import edition_message
    from subscribers.models import Subscriber

    call_command("migrate", verbosity=0)
    rng = random.Random(7)
    day = date(2025, 3, 14)
    document = DigestDocument.objects.create(listed_date=day, raw=b"bench", sha256="0" * 64)
    for i in range(args.papers):
        title = sentence(rng, 9)
        paper = Paper.objects.create(
            arxiv_id=f"2503.{i:05d}",
            title=title,
            title_key=title.lower(),
            abstract=" ".join(sentence(rng, 14) for _ in range(12)),
            authors=[f"Author {j}" for j in range(rng.randint(2, 12))],
            upvotes=rng.randint(0, 300),
        )
        Appearance.objects.create(
            paper=paper, document=document, listed_date=day, position=i + 1, upvotes=paper.upvotes
        )
    edition = edition_build(date=day)

    started = time.perf_counter()
    body = emailed_body(edition)  # as the sender renders it: tracked paper links when TRACK_CLICKS is on
    body_ms = (time.perf_counter() - started) * 1000
    plain = edition_body(edition)

    keyword_sets = [rng.sample(WORDS, rng.randint(1, 3)) for _ in range(40)]
    recipients = [
        Subscriber(
            pk=i + 1,
            email=f"reader{i}@example.com",
            keywords=rng.choice(keyword_sets) if i % 2 else [],
            token_key=f"key{i:08d}",
        )
        for i in range(args.messages)
    ]

    def run(label: str, per_message: Callable[[Subscriber], int]) -> None:
        body.keyword_cache.clear()
        plain.keyword_cache.clear()
        started = time.perf_counter()
        size = 0
        for recipient in recipients:
            size = per_message(recipient) or size
        elapsed = time.perf_counter() - started
        each = elapsed * 1e6 / len(recipients)
        print(f"{label:<46} {len(recipients) / elapsed:>10,.0f} messages/s   ({each:.0f} µs each)")
        if size:
            print(f"{'':<46} {size / 1024:>10,.1f} KB per MIME message")

    tracked = "tracked links" if body.recipient_mark else "plain links (TRACK_CLICKS off)"
    print(f"edition_body (once per edition): {body_ms:.0f} ms, {args.papers} papers, {len(recipients):,} recipients")
    run(f"edition_message, {tracked}", lambda r: edition_message(body, r) and 0)
    run("edition_message, plain links", lambda r: edition_message(plain, r) and 0)
    connection = get_connection("anymail.backends.test.EmailBackend")
    connection.open()

    def send(recipient: Subscriber) -> int:
        edition_message(body, recipient, connection=connection).send()
        # The test backend keeps every message in mail.outbox and finds each one's id with list.index(): emptying
        # it keeps that from turning the benchmark quadratic.
        mail.outbox.clear()
        return 0

    run("edition_message + send (Anymail test backend)", send)
    run("edition_message + MIME bytes", lambda r: len(edition_message(body, r).message().as_bytes()))
    run("edition_message + MIME bytes, plain links", lambda r: len(edition_message(plain, r).message().as_bytes()))


if __name__ == "__main__":
    main()
