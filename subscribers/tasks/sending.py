"""Celery tasks that send editions: the daily tick, chunk sends, the stalled-delivery sweep."""

from __future__ import annotations
