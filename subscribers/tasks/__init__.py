"""Celery discovers ``subscribers.tasks``: transactional mail (confirmations), edition sending, the click drain and
the fold of the kept figures."""

from __future__ import annotations

from subscribers.tasks import clicks, counts, profiles, sending, transactional

__all__ = ["clicks", "counts", "profiles", "sending", "transactional"]
