"""``/healthz``: what a load balancer and an on-call person need to know in one request.

- ``database`` and ``broker`` are hard checks: without them the web cannot take sign-ups, so the answer is 503 and
  the load balancer takes this instance out.
- ``beat`` (age of the last scheduler tick), ``transactional_queue`` (age of the last heartbeat task a worker ran)
  and the apps' own checks (``edition``: the latest edition's status) are soft: a stale beat or
  a stuck send does not make this web process unable to serve pages, so they turn the status to ``degraded`` with
  HTTP 200. A monitor that should page on them asks ``/healthz?strict=1``, which answers 503 on ``degraded`` too.

The apps register their checks (``register_check``) from their ``AppConfig.ready()``, the way Django's own system
checks are registered: this module sits below the apps and never imports them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

from config.routing import QUEUES
from config.tasks import WORKER_HEARTBEAT_KEY

BEAT_TICK_KEY = "ops:beat:last-tick"

Check = Callable[[], dict[str, Any]]
# name -> check, in registration order (INSTALLED_APPS order). Each reads the database, so runs only when it answers.
APP_CHECKS: dict[str, Check] = {}


def register_check(name: str, check: Check) -> None:
    APP_CHECKS[name] = check


def record_beat_tick(when: datetime) -> None:
    # No expiry: an old value is exactly what shows a dead beat.
    cache.set(BEAT_TICK_KEY, when.timestamp(), timeout=None)


def last_beat_tick() -> datetime | None:
    value = cache.get(BEAT_TICK_KEY)
    return datetime.fromtimestamp(float(value), tz=UTC) if value is not None else None


def check_database() -> dict[str, Any]:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means the same thing here: unreachable
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "vendor": connection.vendor, "ms": round((time.monotonic() - started) * 1000, 1)}


def check_broker(timeout: float = 2.0) -> dict[str, Any]:
    started = time.monotonic()
    url = settings.CELERY_BROKER_URL
    try:
        with Connection(
            url, connect_timeout=timeout, transport_options=dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
        ) as conn:
            # One attempt: a load balancer's probe must answer within its own timeout, not retry for a minute.
            # kombu takes the timeout in seconds as a float; celery-types' stub says int.
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)  # type: ignore[arg-type]
            backlog = queue_backlog(conn) if url.startswith(("redis://", "rediss://")) else None
    except Exception as exc:
        return {"ok": False, "transport": url.split(":", 1)[0], "error": f"{type(exc).__name__}: {exc}"}
    report: dict[str, Any] = {
        "ok": True,
        "transport": url.split(":", 1)[0],
        "ms": round((time.monotonic() - started) * 1000, 1),
    }
    if backlog is not None:
        report["queued"] = backlog
    return report


def queue_backlog(conn: Any) -> dict[str, int]:
    """Messages waiting per queue (Redis keeps each queue as a list): a growing ``sending`` count means more
    sending workers, a non-zero ``transactional`` one that confirmations are waiting."""
    client = conn.default_channel.client
    return {queue.name: int(client.llen(queue.name)) for queue in QUEUES}


def check_beat() -> dict[str, Any]:
    try:
        tick = last_beat_tick()
    except Exception as exc:
        return {"ok": False, "error": f"cache unreachable: {type(exc).__name__}: {exc}"}
    if tick is None:
        return {"ok": False, "error": "no beat tick recorded yet: is celery beat running?"}
    age = (timezone.now() - tick).total_seconds()
    return {"ok": age <= settings.BEAT_STALE_SECONDS, "last_tick": tick.isoformat(), "age_seconds": round(age, 1)}


def check_transactional_queue() -> dict[str, Any]:
    """Age of the last heartbeat a worker ran: beat sends it through the queue confirmations use."""
    try:
        value = cache.get(WORKER_HEARTBEAT_KEY)
    except Exception as exc:
        return {"ok": False, "error": f"cache unreachable: {type(exc).__name__}: {exc}"}
    if value is None:
        return {"ok": False, "error": "no heartbeat processed yet: is a worker consuming the transactional queue?"}
    age = time.time() - float(value)
    return {"ok": age <= settings.BEAT_STALE_SECONDS, "age_seconds": round(age, 1)}


def _safely(check: Check) -> dict[str, Any]:
    # A probe must answer with what is wrong, never with a 500 (e.g. a database reachable but not migrated).
    try:
        return check()
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": _safely(check_database),
        "broker": _safely(check_broker),
        "beat": _safely(check_beat),
        "transactional_queue": _safely(check_transactional_queue),
    }
    for name, check in APP_CHECKS.items():
        checks[name] = _safely(check) if checks["database"]["ok"] else {"ok": False, "error": "database unreachable"}
    if not (checks["database"]["ok"] and checks["broker"]["ok"]):
        status = "fail"
    elif all(check["ok"] for check in checks.values()):
        status = "ok"
    else:
        status = "degraded"
    strict = request.GET.get("strict", "") not in ("", "0")
    code = 503 if status == "fail" or (strict and status == "degraded") else 200
    return JsonResponse({"status": status, "checks": checks}, status=code)
