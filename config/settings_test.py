"""Test settings: the real settings with fast hashing and Anymail's test backend by default.

``DATABASE_URL`` and ``REDIS_URL`` still come from the environment, so CI runs the suite on PostgreSQL and Redis.
"""

from __future__ import annotations

import os

os.environ.setdefault("EMAIL_BACKEND", "anymail.backends.test.EmailBackend")
os.environ.setdefault("SITE_URL", "http://testserver")
# No test reaches arXiv or Hugging Face: the title lookup is off unless a test points it at a local stand-in. Set in
# the environment, so the Celery workers the tests start inherit it too.
os.environ.setdefault("ARXIV_API_URL", "")
os.environ.setdefault("HF_API_URL", "")

from config.settings import *  # noqa: F403
from config.settings import CACHES, REDIS_URL
from config.variables import read_str

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if not REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    CACHES = {
        "default": {
            **CACHES["default"],
            "KEY_PREFIX": f"test-{os.getpid()}",
        }
    }
CELERY_TASK_ALWAYS_EAGER = False

# Each concurrent test run (a developer's, a helper's, CI's) can pick its own database name.
_test_db_name = read_str("TEST_DB_NAME")
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, not memory, so a Celery worker subprocess can open the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"{_test_db_name or 'test'}.sqlite3")}  # noqa: F405
elif _test_db_name:
    DATABASES["default"]["TEST"] = {"NAME": _test_db_name}  # noqa: F405

# WhiteNoise warns on every request when STATIC_ROOT is missing; tests never collect static files.
STATIC_ROOT.mkdir(exist_ok=True)  # noqa: F405
