"""ESP_RATE_LIMIT across callers, counted on the shared cache."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import time_machine

from subscribers.delivery.ratelimit import esp_rate_limit_wait


def test_rate_limit_holds_the_sender_back_across_callers(settings) -> None:
    settings.ESP_RATE_LIMIT = 3
    slept: list[float] = []

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    with time_machine.travel(datetime(2030, 1, 1, 0, 0, 0, 100_000, tzinfo=UTC), tick=True):
        for _ in range(4):
            esp_rate_limit_wait(sleep=fake_sleep)
    assert len(slept) == 1 and 0 < slept[0] <= 1


def test_no_rate_limit_configured_never_waits(settings) -> None:
    settings.ESP_RATE_LIMIT = 0
    for _ in range(100):
        esp_rate_limit_wait(sleep=lambda seconds: pytest.fail("waited"))
