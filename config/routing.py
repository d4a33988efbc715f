"""Which Celery queue a task goes to, decided by the module that defines it.

Three queues, one worker pool each in production, so that a 1,000,000-recipient send never sits in front of a
confirmation email, and a slow page fetch never holds up either:

- ``transactional``: confirmations, welcome notes, anything a person is waiting for right now (and ops beats);
- ``sending``: edition fan-out, chunk sends, the stalled-delivery sweep;
- ``ingestion``: fetching and parsing digest pages, building editions, fitting the paper representation and
  refreshing readers' profiles; also the fallback for tasks no rule names,
  because an unknown task must never be able to delay a confirmation.

Rules match module names (``fnmatch`` patterns), so a new task in ``subscribers/tasks/sending.py`` is routed
without an edit here. A task whose module is not importable in the caller (``send_task`` by name) is matched on
its name, which Celery derives from the same module path unless the task was given another name.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from kombu import Exchange, Queue

INGESTION = "ingestion"
SENDING = "sending"
TRANSACTIONAL = "transactional"
DEFAULT_QUEUE = INGESTION

# First match wins; more specific patterns first.
MODULE_RULES: tuple[tuple[str, str], ...] = (
    ("subscribers.tasks.sending", SENDING),
    ("subscribers.tasks.sending.*", SENDING),
    ("subscribers.tasks.transactional", TRANSACTIONAL),
    ("subscribers.tasks.transactional.*", TRANSACTIONAL),
    # Draining recorded clicks is a few milliseconds of database work every few seconds: keep it off busy queues.
    ("subscribers.tasks.clicks", TRANSACTIONAL),
    ("subscribers.tasks.clicks.*", TRANSACTIONAL),
    # Folding the kept delivery and subscriber figures: a short statement a minute, like the click drain.
    ("subscribers.tasks.counts", TRANSACTIONAL),
    ("subscribers.tasks.counts.*", TRANSACTIONAL),
    # Recomputing readers' profiles after a refit is batch work of the same kind as fitting: off the mail queues.
    ("subscribers.tasks.profiles", INGESTION),
    ("subscribers.tasks.profiles.*", INGESTION),
    ("subscribers.tasks", TRANSACTIONAL),
    ("config.tasks", TRANSACTIONAL),
    ("digest.*", INGESTION),
    ("digest", INGESTION),
)

QUEUES: tuple[Queue, ...] = tuple(
    Queue(name, Exchange(name, type="direct"), routing_key=name) for name in (TRANSACTIONAL, SENDING, INGESTION)
)


def queue_for(*, module: str | None, name: str) -> str:
    """The queue for a task defined in ``module`` (when known) and registered as ``name``."""
    candidates = [module] if module else []
    # A task name is "<module>.<function>" unless renamed; its module part is what the rules are about.
    candidates.append(name.rpartition(".")[0] if "." in name else name)
    for candidate in candidates:
        for pattern, queue in MODULE_RULES:
            if fnmatchcase(candidate, pattern):
                return queue
    return DEFAULT_QUEUE


def route_task(
    name: str, args: Any, kwargs: Any, options: dict[str, Any], task: Any = None, **_: Any
) -> dict[str, str] | None:
    """Celery router (``task_routes``): an explicit ``queue=`` on the call still wins over this."""
    if options.get("queue"):
        return None
    module = getattr(task, "__module__", None) if task is not None else None
    # Celery's own task classes live in celery.*; those built-ins (chord_unlock, ...) follow the task name only.
    if module and module.startswith("celery."):
        module = None
    return {"queue": queue_for(module=module, name=name)}
