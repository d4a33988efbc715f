"""Playwright fixtures for page tests in headless Chromium, shared by every app's browser tests (a pytest plugin).

- ``browser``: one headless Chromium per session (Debian's ``/usr/bin/chromium``; Playwright's own download is
  never used). Skips locally, fails under CI, when Chromium or Playwright is missing.
- ``page``: a fresh phone-sized context and page per test whose relative URLs go to pytest-django's ``live_server``.
- ``site_url``: points ``settings.SITE_URL`` at the live server, so links in emails open in the browser.
- ``axe_check(page)``: runs axe-core and fails on serious or critical violations.
- ``eager_celery``: runs enqueued tasks in the server thread, so their emails land in ``mail.outbox``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache

from config.celery import app as celery_app
from tests.support.services import unavailable

# Playwright's sync API keeps an event loop in the test's thread; Django would then refuse the ORM calls that a
# test makes between page actions (the live server itself runs in its own thread).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed: pip install -e '.[dev]'")
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def site_url(live_server, settings) -> str:
    settings.SITE_URL = live_server.url
    return live_server.url


@pytest.fixture
def page(browser, site_url: str) -> Iterator[Any]:
    context = browser.new_context(base_url=site_url, viewport={"width": 390, "height": 844})  # a phone
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def eager_celery() -> Iterator[None]:
    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Rate-limit counters (and anything else cached) from one page test must not leak into the next."""
    cache.clear()
    yield


@pytest.fixture
def axe_check() -> Callable[[Any], None]:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()

    def check(page: Any) -> None:
        results = axe.run(page)
        serious = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
        report = "\n".join(
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}" for v in serious
        )
        assert not serious, f"axe found serious/critical violations on {page.url}:\n{report}"

    return check
