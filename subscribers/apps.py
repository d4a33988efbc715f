from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate

from config.health import register_check


def _ensure_counts(*, using: str, **kwargs: Any) -> None:
    # A later migration that rebuilds the delivery or subscriber table on SQLite drops its triggers with it.
    from subscribers.counts import COUNTED, ensure_count_triggers

    connection = connections[using]
    tables = set(connection.introspection.table_names())
    # Only the figures whose tables exist: a database migrated part of the way has not all of them yet.
    ready = [spec for spec in COUNTED if spec.counts in tables and spec.table in tables]
    if ready:
        ensure_count_triggers(connection, specs=ready)


class SubscribersConfig(AppConfig):
    name = "subscribers"
    verbose_name = "Subscribers and deliveries"

    def ready(self) -> None:
        # Connects the Anymail tracking and inbound receivers. Imported here, not at the top: they use the models,
        # which are loaded only once apps are ready.
        from subscribers.health import check_deliverability
        from subscribers.webhooks import inbound, tracking  # noqa: F401

        post_migrate.connect(_ensure_counts, sender=self, dispatch_uid="subscribers-ensure-counts")
        register_check("deliverability", check_deliverability)
