"""Celery discovers ``subscribers.tasks``: transactional mail (confirmations), edition sending and the click drain."""

from __future__ import annotations

from subscribers.tasks import clicks, profiles, sending, transactional

__all__ = ["clicks", "profiles", "sending", "transactional"]
