from __future__ import annotations

from django.apps import AppConfig


class SubscribersConfig(AppConfig):
    name = "subscribers"
    verbose_name = "Subscribers and deliveries"

    def ready(self) -> None:
        # Connects the Anymail tracking receiver. Imported here, not at the top: webhooks uses the models, which
        # are loaded only once apps are ready.
        from subscribers import webhooks  # noqa: F401
