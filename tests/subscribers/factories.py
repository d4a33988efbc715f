"""Subscriber rows for tests: each function saves one and takes keyword overrides."""

from __future__ import annotations

import itertools
from typing import Any

from django.utils import timezone

from subscribers.models import Subscriber

_counter = itertools.count(1)


def make_subscriber(**fields: Any) -> Subscriber:
    n = next(_counter)
    defaults: dict[str, Any] = {
        "email": f"reader{n}@example.org",
        "status": Subscriber.Status.ACTIVE,
        "status_changed_at": timezone.now(),
        "confirmed_at": timezone.now(),
        "keywords": [],
    }
    defaults.update(fields)
    return Subscriber.objects.create(**defaults)
