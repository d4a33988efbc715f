"""Beat's fold of the kept delivery and subscriber figures (``subscribers.counts``): each key's rows into one."""

from __future__ import annotations

from celery import shared_task

from subscribers.counts import fold_counts as fold


@shared_task(acks_late=True)
def fold_counts() -> int:
    """Safe to run twice at once, or beside any writer: each fold sums exactly the rows it deletes."""
    return fold()
