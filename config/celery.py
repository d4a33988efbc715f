from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
def _database_connections_checked(*, task: Any, **_: Any) -> None:
    """Before each task, what Django does before each request: a connection older than ``DATABASE_CONN_MAX_AGE``,
    or left broken (the database restarted), is closed, and the next query opens a new one (``CONN_HEALTH_CHECKS``
    pings a kept one first). Celery itself closes every connection after every task unless ``CELERY_DB_REUSE_MAX``
    is set (config.settings sets it when connections are kept), which costs each sending chunk a new PostgreSQL
    backend."""
    if getattr(task.request, "is_eager", False):  # run inline (a test's transaction): not a task of this worker's
        return
    from django.db import close_old_connections

    close_old_connections()
