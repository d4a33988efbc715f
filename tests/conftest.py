from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.services import (
    SHARED,
    CeleryProcess,
    MotoSES,
    RedisServer,
    database_url_for,
    free_port,
    run_moto_ses,
    subprocess_env,
    unavailable,
)

# Playwright fixtures (browser, page, axe_check, ...) live in one plugin so every app's page tests share one
# Chromium: two sync Playwright instances cannot run in one thread.
pytest_plugins = ["tests.support.browser"]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's shared material (real seed pages, API samples), beside the clone."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: the real seed pages live beside the clone in CI")
    return SHARED


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        unavailable("REDIS_URL is not set")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        unavailable(f"Redis at {url} is unreachable: {exc}")
    return url


@pytest.fixture
def postgres(db: None) -> None:
    """Marks a test that needs PostgreSQL itself (row locks, skip_locked, concurrency)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        unavailable("this test needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own (no persistence), so it can be killed without touching anyone else's."""
    server = RedisServer(port=free_port()).start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def moto_ses() -> Iterator[MotoSES]:
    with run_moto_ses() as server:
        yield server


@pytest.fixture
def ses(moto_ses: MotoSES, settings) -> MotoSES:
    """moto's SES server, emptied, with this process's Django sending through Anymail's amazon_ses backend."""
    moto_ses.reset()
    settings.EMAIL_BACKEND = "anymail.backends.amazon_ses.EmailBackend"
    settings.ANYMAIL = {**settings.ANYMAIL, "AMAZON_SES_CLIENT_PARAMS": moto_ses.client_params()}
    settings.DEFAULT_FROM_EMAIL = moto_ses.env()["DEFAULT_FROM_EMAIL"]
    return moto_ses


def _celery_args(args: tuple[str, ...]) -> list[str]:
    extra: list[str] = []
    # The harness waits for the worker's "ready." line, which Celery only logs at INFO.
    if not any(a.startswith(("-l", "--loglevel")) for a in args):
        extra.append("--loglevel=INFO")
    if args[0] == "worker":
        extra += ["--without-mingle", "--without-gossip"]
    return [*args, *extra]


@pytest.fixture
def celery_process(transactional_db: None, redis_url: str, tmp_path: Path) -> Iterator[Callable[..., CeleryProcess]]:
    """Start real ``celery worker``/``celery beat`` subprocesses on this test's database and Redis.

    Usage: ``worker = celery_process("worker", "-Q", "celery", env={...})``. Everything started is stopped at the
    end of the test. The test must commit its data (``transactional_db``) for the worker to see it.
    """
    from django.db import connection

    started: list[CeleryProcess] = []
    beat_lock_suffix = uuid.uuid4().hex
    database_url = database_url_for(connection.settings_dict)

    def start(*args: str, env: dict[str, str] | None = None, ready_timeout: float = 60.0) -> CeleryProcess:
        name = f"celery-{args[0]}-{len(started)}"
        # One beat lock per test: a beat SIGKILLed by an earlier test leaves its lock for BEAT_LOCK_TTL seconds,
        # and a beat started here would wait that long. Processes of the same test share it, as on one deployment.
        extra = {"VAR_DIR": str(tmp_path / "var"), "BEAT_LOCK_KEY": f"test-beat:{beat_lock_suffix}"}
        extra.update(env or {})
        # Beat keeps its schedule file there; with Redis as broker nothing else would create the folder.
        Path(extra["VAR_DIR"]).mkdir(parents=True, exist_ok=True)
        proc = CeleryProcess(
            args=_celery_args(args),
            env=subprocess_env(database_url=database_url, redis_url=redis_url, extra=extra),
            log_path=tmp_path / f"{name}.log",
        )
        started.append(proc)
        return proc.start(ready_timeout=ready_timeout)

    yield start
    for proc in started:
        proc.stop()
