"""Beat's nightly profile refresh, after the representation's nightly fit: profiles made under an older version are
recomputed in batches, so the morning's chunks find them current (they would recompute stale ones themselves)."""

from __future__ import annotations

import logging

from celery import shared_task

from subscribers.profiles import profiles_refresh

logger = logging.getLogger(__name__)


@shared_task(name="subscribers.tasks.profiles.refresh_profiles")
def refresh_profiles() -> int:
    count = profiles_refresh()
    logger.info("refreshed %d reader profiles", count)
    return count
