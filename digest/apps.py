from __future__ import annotations

from django.apps import AppConfig

from config.health import register_check


class DigestConfig(AppConfig):
    name = "digest"
    verbose_name = "Papers and editions"

    def ready(self) -> None:
        # Imported here, not at the top: the check queries the models, which are loaded only once apps are ready.
        from digest.health import check_edition

        register_check("edition", check_edition)
