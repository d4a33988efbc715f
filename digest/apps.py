from __future__ import annotations

from django.apps import AppConfig


class DigestConfig(AppConfig):
    name = "digest"
    verbose_name = "Papers and editions"
