"""A Celery beat scheduler that only schedules while it holds a lock in Redis.

Two beat processes started by mistake (a second host, a unit enabled twice) would otherwise both send the daily
job. With this scheduler the first one to take the lock leads; the other waits on standby and takes over when the
leader stops renewing it (crashed, host cut off), within ``BEAT_LOCK_TTL`` seconds.

A standby follows the leader's progress: each tick the leader records the time it started that tick, and the
standby moves its own entries' ``last_run_at`` up to that time. On a takeover, entries that fell due after the
leader's last tick fire once; entries the leader already sent do not fire again.

Without Redis (the embedded default) there is one beat by construction and no lock is taken; the tick is still
recorded for ``/healthz``.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import UTC, datetime
from typing import Any

import django
import redis
from celery.beat import PersistentScheduler
from django.conf import settings

from config.health import last_beat_tick, record_beat_tick

logger = logging.getLogger("config.beat")


class GuardedScheduler(PersistentScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        django.setup()  # beat does not always set Django up before the scheduler needs the cache and settings

        self.lock_ttl = float(settings.BEAT_LOCK_TTL)
        self.lock = None
        if settings.REDIS_URL:
            client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
            # thread_local=False: beat ticks from one thread, but the token must survive across ticks regardless.
            self.lock = client.lock(settings.BEAT_LOCK_KEY, timeout=self.lock_ttl, thread_local=False)
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leading = self.lock is None
        self.announced_standby = False
        super().__init__(*args, **kwargs)
        # Wake often enough to renew the lock well before it expires, whatever the schedule says. Celery sets
        # max_interval to a number of seconds (celery-types says int | None; Celery compares it with floats).
        self.wake_every = min(float(self.max_interval or self.lock_ttl), self.lock_ttl / 3)
        self.max_interval = self.wake_every  # type: ignore[assignment]

    def tick(self, *args: Any, **kwargs: Any) -> float:
        started = datetime.now(UTC)
        if not self._lead():
            if not self.announced_standby and self.lock is not None:
                logger.info("beat: standing by; another beat holds the lock %s", self.lock.name)
                self.announced_standby = True
            try:
                leader_tick = last_beat_tick()
            except Exception as exc:  # the cache is Redis too: try again next tick rather than die
                logger.warning("beat: cannot read the leader's last tick: %s", exc)
                leader_tick = None
            if leader_tick is not None:
                self._follow(leader_tick)
            return self.wake_every
        interval = super().tick(*args, **kwargs)
        try:
            # The start time, not the end: everything due up to it has been sent by now.
            record_beat_tick(started)
        except Exception as exc:
            logger.warning("beat: cannot record the tick for /healthz and the standby: %s", exc)
        return min(interval, self.wake_every)

    def _lead(self) -> bool:
        """Take or renew the lock; True while this process leads."""
        if self.lock is None:
            return True
        try:
            if self.leading:
                self.lock.reacquire()
                return True
            if self._resume_own_lock() or self.lock.acquire(blocking=False):
                self.leading = True
                # Rebuild the heap from the entries the standby kept in step with the leader.
                self._heap = None
                self.announced_standby = False
                logger.info("beat: leading (lock %s held by %s)", self.lock.name, self.identity)
                return True
            return False
        except redis.exceptions.LockError:
            self.leading = False
            logger.warning("beat: lost the lock %s; standing by", self.lock.name)
            return False
        except redis.RedisError as exc:
            # Cannot prove we still hold it: stop scheduling rather than risk a double send.
            self.leading = False
            logger.warning("beat: Redis unreachable (%s); not scheduling until it answers", exc)
            return False

    def _resume_own_lock(self) -> bool:
        """Redis was unreachable while this beat led (so it stopped scheduling). If the lock still holds this beat's
        token (Redis came back with its data, or never lost it), no other beat took over: lead again at once, rather
        than stand by until this beat's own lock expires (``BEAT_LOCK_TTL``) while sweeps and ticks wait."""
        assert self.lock is not None
        if getattr(self.lock.local, "token", None) is None:
            return False
        try:
            self.lock.reacquire()
        except redis.exceptions.LockError:
            self.lock.local.token = None  # expired or another beat's now: only a fresh acquire may lead
            return False
        return True

    def close(self) -> None:
        super().close()
        if self.lock is not None and self.leading:
            # Hand over at once on a clean stop instead of making the standby wait for the lock to expire.
            try:
                self.lock.release()
            except redis.RedisError:
                logger.info("beat: lock %s not released; it expires by itself", self.lock.name)
            self.leading = False

    def _follow(self, leader_tick: datetime) -> None:
        """Move every entry's last run up to the leader's last tick, so a takeover does not repeat its work."""
        changed = False
        for entry in self.schedule.values():
            last = entry.last_run_at
            if last is None or last.tzinfo is None or last < leader_tick:
                entry.last_run_at = leader_tick
                changed = True
        if changed:
            self._heap = None
