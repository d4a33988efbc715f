"""The subscribers' part of ``/healthz``: the complaint and hard-bounce rates, and whether the brake paused sending."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from subscribers.brake import brake_state


def check_deliverability() -> dict[str, Any]:
    """Not ok (``degraded``) above the complaint warning, or while sending is paused: neither stops the web."""
    state = brake_state(now=timezone.now())
    report: dict[str, Any] = {
        "ok": state.healthy,
        "level": state.level.value,
        "paused": state.paused,
        "deliveries": state.window.deliveries,
        "complaints": state.window.complaints,
        "hard_bounces": state.window.bounces,
        "complaint_percent": round(state.window.complaint_percent, 3),
        "hard_bounce_percent": round(state.window.bounce_percent, 3),
    }
    if state.paused:
        report["error"] = state.reason
    elif not state.healthy:
        report["error"] = state.verdict
    return report
