"""Beat's click drain: recorded clicks from the Redis stream into the database (``subscribers.clicks.recording``)."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from subscribers.clicks.recording import clicks_drain


@shared_task(acks_late=True)
def drain_clicks() -> dict[str, int]:
    """Safe to run twice at once: the stream mark's row lock makes the second wait, then apply only what is left."""
    return asdict(clicks_drain())
