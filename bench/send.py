"""Sending throughput of the real pipeline (fan-out, claim, render per recipient, send, record).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/4 \
        .venv/bin/python bench/send.py --n 10000 100000 --moto-n 2000

Prints, per N: emails/s into Anymail's test backend (no transport) in one process; then, for ``--moto-n``
subscribers, emails/s into moto's SES server next to a bare boto3 ``send_email`` loop of pre-built raw messages
against the same server (the ratio is the pipeline's overhead over the transport itself). ``--newsletter-python``
points at a Python that has django-newsletter installed (a throwaway venv: it is not a project dependency) to
time the same edition sent by django-newsletter with Django's locmem backend (bench/newsletter_baseline.py).
``--profiles`` sends each N a second time with a profile for every recipient (three "more like this" votes each,
the representation fitted on the stored papers): "For you" chosen per chunk, beside the same edition without.

The bench uses a database of its own (``bench_send``), created and dropped around the run, and the send journal
and rate limiter on the configured cache (Redis when ``REDIS_URL`` is set), as in production.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
os.environ.setdefault("TEST_DB_NAME", "bench_send")

import django  # noqa: E402
import numpy as np  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core import mail  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from digest.ingest import ingest_bytes  # noqa: E402
from digest.models import Edition, Paper  # noqa: E402
from digest.rendering import edition_public_parts  # noqa: E402
from digest.trending import edition_build  # noqa: E402
from digest.vectors import representation_fit  # noqa: E402
from subscribers import personalize  # noqa: E402
from subscribers.delivery.body import body_for, clear_body_cache  # noqa: E402
from subscribers.delivery.chunk import chunk_send  # noqa: E402
from subscribers.delivery.fanout import deliveries_fan_out  # noqa: E402
from subscribers.messages import edition_message  # noqa: E402
from subscribers.models import Delivery, Profile, Subscriber, Vote  # noqa: E402
from subscribers.profiles import profiles_rebuild  # noqa: E402

TEST_BACKEND = "anymail.backends.test.EmailBackend"
SES_BACKEND = "anymail.backends.amazon_ses.EmailBackend"


def build_edition() -> Edition:
    settings.NEWSLETTER_WINDOW_DAYS = 365
    for path in sorted((ROOT.parent / "shared" / "seeds").glob("*")):
        ingest_bytes(path.read_bytes(), origin=str(path))
    edition = edition_build(date=timezone.now().date())
    Edition.objects.filter(pk=edition.pk).update(status=Edition.Status.APPROVED)
    edition.refresh_from_db()
    return edition


def make_subscribers(n: int) -> list[int]:
    Subscriber.objects.all().delete()
    now = timezone.now()
    batch = []
    for i in range(n):
        # One in ten has keywords, so the per-recipient keyword section is exercised too.
        keywords = ["language", "agents"] if i % 10 == 0 else []
        email = f"bench{i:06d}@example.org"
        batch.append(Subscriber(email=email, status=Subscriber.Status.ACTIVE, confirmed_at=now, keywords=keywords))
    Subscriber.objects.bulk_create(batch, batch_size=5000)
    return list(Subscriber.objects.order_by("pk").values_list("pk", flat=True))


def store_history(count: int) -> None:
    """``count`` older papers (generated text on a few dozen topics), so the representation has its full size."""
    from bench.personalization import make_corpus

    if Paper.objects.count() >= count:
        return
    corpus = make_corpus(rng=np.random.default_rng(3), topics=24, days=count // 50, per_day=50)
    Paper.objects.bulk_create(
        [
            Paper(title=title, abstract=text, title_key=f"bench history {i}")
            for i, (title, text) in enumerate(zip(corpus.titles, corpus.texts, strict=True))
        ],
        batch_size=2000,
    )


def give_profiles(edition: Edition, ids: list[int]) -> tuple[int, int]:
    """Fit the representation on the stored papers, then three "more like this" votes per subscriber on older
    papers, and every profile built from them: (dims, seconds spent building the profiles)."""
    store_history(3000)
    outcome = representation_fit(force=True)
    rng = random.Random(7)
    listed = set(edition.entries.values_list("paper_id", flat=True))
    papers = [pk for pk in Paper.objects.values_list("pk", flat=True) if pk not in listed]
    Vote.objects.all().delete()
    Vote.objects.bulk_create(
        [Vote(subscriber_id=pk, paper_id=paper, value=1) for pk in ids for paper in rng.sample(papers, 3)],
        batch_size=5000,
    )
    started = time.perf_counter()
    for start in range(0, len(ids), 2000):
        profiles_rebuild(subscriber_ids=ids[start : start + 2000])
    assert Profile.objects.count() == len(ids)
    return outcome.dims, round(time.perf_counter() - started)


def reset(edition: Edition) -> None:
    Delivery.objects.filter(edition=edition).delete()
    Edition.objects.filter(pk=edition.pk).update(status=Edition.Status.APPROVED)
    clear_body_cache()
    personalize.clear_cache()


def pipeline(edition: Edition, ids: list[int], backend: str) -> tuple[float, float]:
    """(fan-out seconds, send seconds) for ``ids`` through the chunk service, one process, chunk after chunk."""
    reset(edition)
    settings.EMAIL_BACKEND = backend
    started = time.perf_counter()
    recipients = Subscriber.objects.filter(pk__in=ids)
    batch = deliveries_fan_out(edition=edition, recipients=recipients, now=timezone.now())
    fanned = time.perf_counter()
    sent = 0
    for chunk in batch.chunks:
        sent += chunk_send(edition_id=edition.pk, first=chunk.first, last=chunk.last).sent
        if backend == TEST_BACKEND:
            mail.outbox.clear()  # the test backend keeps every message and looks each one up by index
    done = time.perf_counter()
    assert sent == len(ids), (sent, len(ids))
    return fanned - started, done - fanned


def bare_boto3_loop(edition: Edition, ids: list[int], client_params: dict) -> float:
    """The transport alone: boto3 sesv2 send_email of one pre-built raw message per recipient."""
    import boto3

    client = boto3.client("sesv2", **client_params)
    subscribers = list(Subscriber.objects.filter(pk__in=ids).order_by("pk"))
    body = body_for(edition)
    raw = edition_message(body, subscribers[0]).message().as_bytes()
    started = time.perf_counter()
    for subscriber in subscribers:
        client.send_email(
            FromEmailAddress=settings.DEFAULT_FROM_EMAIL,
            Destination={"ToAddresses": [subscriber.email]},
            Content={"Raw": {"Data": raw}},
        )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--moto-n", type=int, default=2_000, help="subscribers sent through moto (0: skip)")
    parser.add_argument("--newsletter-python", default="", help="a Python with django-newsletter installed")
    parser.add_argument(
        "--profiles", action="store_true", help="then again with a profile (three votes) for every recipient"
    )
    args = parser.parse_args()

    settings.NEWSLETTER_SEND_CHUNK_SIZE = 500
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    results: dict[str, object] = {"when": datetime.now(UTC).isoformat(timespec="seconds")}
    try:
        edition = build_edition()
        html, text = edition_public_parts(body_for(edition))
        sample = edition_message(body_for(edition), Subscriber(pk=1, email="x@example.org", keywords=[]))
        size = len(sample.message().as_bytes())
        print(f"edition {edition.date}: {edition.entries.count()} papers, one message is {size / 1024:.1f} KB")
        print(f"database {connection.vendor}, cache {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}")

        for n in args.n:
            ids = make_subscribers(n)
            fan_out, send = pipeline(edition, ids, TEST_BACKEND)
            rate = n / send
            results[f"test_backend_{n}"] = round(rate)
            print(f"N={n:>7}: fan-out {fan_out:6.2f}s; send {send:7.2f}s = {rate:8.0f} emails/s (test backend)")
            if args.profiles:
                dims, built = give_profiles(edition, ids)
                _, send = pipeline(edition, ids, TEST_BACKEND)
                personal = n / send
                results[f"test_backend_profiles_{n}"] = round(personal)
                print(
                    f"N={n:>7}: with a profile each ({dims} dims, {dims * 4} bytes stored per profile, built in "
                    f"{built}s): send {send:7.2f}s = {personal:8.0f} emails/s, {personal / rate:.0%} of plain"
                )
                Vote.objects.all().delete()
                Profile.objects.all().delete()

        if args.moto_n:
            from tests.support.services import run_moto_ses

            ids = make_subscribers(args.moto_n)
            with run_moto_ses() as moto:
                params = {**moto.client_params(), "config": {"retries": {"total_max_attempts": 1}}}
                settings.ANYMAIL = {**settings.ANYMAIL, "AMAZON_SES_CLIENT_PARAMS": params}
                settings.DEFAULT_FROM_EMAIL = moto.env()["DEFAULT_FROM_EMAIL"]
                moto.reset()
                _, send = pipeline(edition, ids, SES_BACKEND)
                assert len(moto.raw_messages()) == len(ids)
                moto.reset()
                bare = bare_boto3_loop(edition, ids, moto.client_params())
            ours, theirs = len(ids) / send, len(ids) / bare
            results.update(moto_pipeline=round(ours), moto_bare_boto3=round(theirs), moto_ratio=round(ours / theirs, 3))
            print(
                f"moto SES, N={len(ids)}: pipeline {ours:7.0f} emails/s, bare boto3 loop {theirs:7.0f} emails/s, "
                f"ratio {ours / theirs:.0%}"
            )

        if args.newsletter_python:
            with tempfile.TemporaryDirectory() as tmp:
                content = Path(tmp) / "edition.json"
                content.write_text(json.dumps({"subject": edition.subject, "html": html, "text": text}))
                for n in args.n:
                    out = subprocess.run(
                        [args.newsletter_python, str(ROOT / "bench" / "newsletter_baseline.py"), str(content), str(n)],
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout.strip()
                    theirs = float(out.splitlines()[-1])
                    ours = float(results[f"test_backend_{n}"])  # type: ignore[arg-type]
                    results[f"django_newsletter_{n}"] = round(theirs)
                    print(f"N={n:>7}: django-newsletter {theirs:7.0f} emails/s (locmem); ours {ours / theirs:.1f}x")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
