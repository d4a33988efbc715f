from __future__ import annotations

from django.apps import AppConfig


class SubscribersConfig(AppConfig):
    name = "subscribers"
    verbose_name = "Subscribers and deliveries"

    def ready(self) -> None:
        # Connects the Anymail tracking and inbound receivers. Imported here, not at the top: they use the models,
        # which are loaded only once apps are ready.
        from subscribers.webhooks import inbound, tracking  # noqa: F401
