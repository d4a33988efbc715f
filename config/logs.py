"""Logging for web, workers and beat: JSON lines in production, a plain format for a person at a terminal.

Context travels as ``extra=`` fields, which the JSON formatter writes as top-level keys. The names used across the
code base, so one log query finds every line about a send:

- ``edition_id``, ``subscriber_id``, ``delivery_id``, ``esp_message_id``, ``chunk`` (sending);
- ``source_id``, ``document_id`` (ingestion).

Inside a Celery task every line also carries ``task_id`` and ``task_name``, added by ``CeleryTaskFilter``; gunicorn's
access lines carry ``http_method``, ``http_path``, ``http_status``, ``duration_ms`` and the like (``config/gunicorn.py``
routes gunicorn's logging here).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from celery import current_task
from pythonjsonlogger.json import JsonFormatter

CONTEXT_FIELDS = (
    "edition_id",
    "subscriber_id",
    "delivery_id",
    "esp_message_id",
    "chunk",
    "source_id",
    "document_id",
    "task_id",
    "task_name",
)


class CeleryTaskFilter(logging.Filter):
    """Adds the running Celery task's id and name to each record, when there is one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not current_task:  # a proxy, false outside a task
            return True
        request = getattr(current_task, "request", None)
        if request is not None and getattr(request, "id", None):
            record.task_id = request.id
            record.task_name = current_task.name
        return True


class HttpAccessFilter(logging.Filter):
    """Turns gunicorn's access-log atoms into fields, so a JSON line can be queried by status, path or duration."""

    FIELDS = {
        "remote_addr": "h",
        "http_method": "m",
        "http_path": "U",
        "http_query": "q",
        "http_status": "s",
        "response_bytes": "B",
        "user_agent": "a",
    }

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = record.args
        if record.name == "gunicorn.access" and isinstance(atoms, Mapping):
            fields = {field: atoms.get(atom) for field, atom in self.FIELDS.items()}
            if str(fields["http_status"]).isdigit():
                fields["http_status"] = int(str(fields["http_status"]))
            for field, value in fields.items():
                setattr(record, field, value)
            # "D" is the request time in microseconds.
            record.duration_ms = round(int(str(atoms.get("D") or 0)) / 1000, 1)
        return True


class WebhookRefusalFilter(logging.Filter):
    """Drops Django's "Bad Request" / "Not Found" lines for the ESP webhooks: their guard logs its own refusals,
    at most one line per client a minute (subscribers/webhooks/guard.py), which a line per request would undo."""

    PREFIX = "/anymail/"

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        status = getattr(record, "status_code", None)
        path = getattr(request, "path", "")
        return not (isinstance(status, int) and 400 <= status < 500 and str(path).startswith(self.PREFIX))


class PlainFormatter(logging.Formatter):
    """The classic one-line format, followed by whichever context fields the record carries."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(f"{name}={getattr(record, name)}" for name in CONTEXT_FIELDS if hasattr(record, name))
        return f"{line} [{context}]" if context else line


class ServiceJsonFormatter(JsonFormatter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("timestamp", True)
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        super().__init__(*args, **kwargs)


def logging_config(*, fmt: str, level: str) -> dict[str, Any]:
    formatter: dict[str, Any]
    if fmt == "json":
        formatter = {
            "()": "config.logs.ServiceJsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s %(process)d",
        }
    else:
        formatter = {"()": "config.logs.PlainFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "celery_task": {"()": "config.logs.CeleryTaskFilter"},
            "http_access": {"()": "config.logs.HttpAccessFilter"},
            "webhook_refusals": {"()": "config.logs.WebhookRefusalFilter"},
        },
        "formatters": {"main": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                # The process's real stderr: Celery swaps sys.stderr for a proxy that logs, and a handler created
                # after that (beat sets Django up late) would write into the proxy and lose every line.
                "stream": "ext://sys.__stderr__",
                "formatter": "main",
                "filters": ["celery_task", "http_access"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # A filter on the logger (not the handler), so it holds whatever handlers are attached.
            "django.request": {"filters": ["webhook_refusals"]},
        },
    }
