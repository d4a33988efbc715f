"""``ESP_RATE_LIMIT`` across every sending worker: a fixed window counted on the shared cache (Redis in production)."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django_ratelimit.core import get_usage


def _rate() -> tuple[int, int] | None:
    """ESP_RATE_LIMIT (messages/s, may be fractional) as django-ratelimit's (count, seconds) fixed window."""
    per_second = settings.ESP_RATE_LIMIT
    if per_second <= 0:
        return None
    if per_second >= 1:
        return int(per_second), 1
    return 1, max(1, round(1 / per_second))


def esp_rate_limit_wait(*, sleep: Callable[[float], None] = time.sleep) -> None:
    """Block until this process may hand one more message to the ESP; raises if the counter is unreachable."""
    rate = _rate()
    while rate is not None:
        usage = get_usage(None, group="esp-send", key=lambda group, request: "esp", rate=rate, increment=True)
        if usage is None or not usage["should_limit"]:
            return
        if usage["limit"] == 0 and usage["time_left"] == -1:
            raise ConnectionError("the rate-limit counter is unreachable")
        sleep(usage["time_left"] if usage["time_left"] > 0 else 1 - time.time() % 1)
