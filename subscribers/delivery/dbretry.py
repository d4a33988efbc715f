"""Riding out a database hiccup (a restart, a failover, a dropped connection) inside a chunk.

A chunk that has already handed its messages to the ESP must not lose that knowledge to a stale connection: its
database steps reconnect and try again with backoff for ``DB_RETRY_SECONDS``, and only then give up (the rows stay
``sending`` and the sweep settles them from the send journal).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Longer than a database restart or failover (seconds), far shorter than NEWSLETTER_STALL_SECONDS (minutes), so
# the sweep does not settle a claim whose chunk is still waiting for the database.
DB_RETRY_SECONDS = 30.0
_FIRST_WAIT_SECONDS = 0.2
_MAX_WAIT_SECONDS = 5.0


def with_db_retry(
    step: Callable[[], T],
    *,
    what: str,
    deadline_seconds: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run ``step``; on a lost or refused database connection, reconnect and run it again until the deadline.

    ``step`` must be safe to run again after a failure: each chunk step is one transaction, or statements that
    only touch rows still held under the chunk's claim token.
    """
    give_up_at = clock() + (DB_RETRY_SECONDS if deadline_seconds is None else deadline_seconds)
    wait = _FIRST_WAIT_SECONDS
    while True:
        try:
            return step()
        except (OperationalError, InterfaceError) as exc:
            if connection.in_atomic_block:
                # Inside a caller's transaction a reconnect would silently drop its work: only the caller may retry.
                raise
            # The old connection is broken; Django opens a new one on the next query (ours, or whoever runs next).
            with contextlib.suppress(Exception):
                connection.close()
            if clock() + wait > give_up_at:
                raise
            logger.warning("database unavailable during %s, retrying in %.1fs: %s", what, wait, exc)
            sleep(wait)
            wait = min(wait * 2, _MAX_WAIT_SECONDS)
