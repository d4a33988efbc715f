"""Celery tasks for transactional mail: confirmation, welcome, already-subscribed notice."""

from __future__ import annotations
