"""Celery discovers ``subscribers.tasks``: transactional mail (confirmations) and edition sending live apart."""

from __future__ import annotations

from subscribers.tasks import sending, transactional

__all__ = ["sending", "transactional"]
