from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache

from config.celery import app as celery_app
from tests.subscribers.webhook_support import mount_esp, sns_signer  # noqa: F401 (the webhook tests' fixtures)


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    """Rate-limit counters live in the cache (Redis under CI): each test starts from zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def eager_tasks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run enqueued tasks in-process so their emails reach the configured backend (Anymail's test backend).

    Without this, on-commit ``.delay()`` calls would pile up in the real broker for some later worker to find.
    Tests marked ``realparts`` run a real worker and keep the real broker.
    """
    if request.node.get_closest_marker("realparts"):
        yield
        return
    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous
