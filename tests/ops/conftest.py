from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

from tests.support.services import ROOT

# What an operator's environment file holds for a production host (the ESP keys are added per test).
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "k3y-for-tests-only-9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4",
    "SITE_URL": "https://papers.example.org",
    "DEFAULT_FROM_EMAIL": "Trending Papers <papers@example.com>",
    "ESP": "postmark",
    "POSTMARK_SERVER_TOKEN": "server-token",
    "LOG_FORMAT": "json",
}

# Variables that could leak from the developer's or CI's shell into a "production" subprocess.
_SCRUB = (
    "DJANGO_SETTINGS_MODULE",
    "EMAIL_BACKEND",
    "ESP",
    "DEBUG",
    "SECRET_KEY",
    "SITE_URL",
    "ALLOWED_HOSTS",
    # Set by the browser tests for Playwright's event loop; a production process must never inherit it.
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)


def manage(*args: str, env: Mapping[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py`` in a fresh process with exactly this configuration on top of a scrubbed environment."""
    base = {k: v for k, v in os.environ.items() if k not in _SCRUB and not k.startswith(("AWS_", "POSTMARK_"))}
    base.update({"DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONUNBUFFERED": "1"})
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
