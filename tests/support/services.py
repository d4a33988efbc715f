"""Reaching the real services the suite talks to: PostgreSQL, Redis, a moto SES server, Celery workers.

Locally a missing service skips the tests that need it, with the reason; under CI (``CI`` set) it fails them,
because CI promises to run the suite against the real parts.
"""

from __future__ import annotations

import email
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
UNDER_CI = os.environ.get("CI", "").lower() not in ("", "0", "false")


def unavailable(reason: str) -> None:
    """Skip locally, fail under CI."""
    if UNDER_CI:
        pytest.fail(f"required service unavailable under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, *, host: str = "127.0.0.1", timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def database_url_for(settings_dict: Mapping[str, object]) -> str:
    """A DATABASE_URL that points a subprocess at the database this test process uses (the test database)."""
    engine = str(settings_dict["ENGINE"])
    name = settings_dict["NAME"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{name}"
    user = settings_dict.get("USER") or "postgres"
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else f"{user}@"
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{name}"


# --- A Redis of a test's own --------------------------------------------------------------------------------


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen | None = None
    # Set by ``persist()``: the server keeps an append-only file there, so a restart comes back with its data.
    data_dir: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        durability = ["--save", "", "--appendonly", "no"]
        if self.data_dir is not None:
            durability = ["--save", "", "--dir", str(self.data_dir), "--appendonly", "yes", "--appendfsync", "always"]
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), *durability, "--bind", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def persist(self) -> None:
        """Restart it keeping its data on disk (an append-only file, fsynced per write), as a deployed broker does.

        Before anything uses it: what it held in memory is not carried over.
        """
        self.kill()
        self.data_dir = Path(tempfile.mkdtemp(prefix="fault-redis-"))
        self.start()

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): with ``persist()`` the data is on disk for the next ``start()``."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def close(self) -> None:
        """Gone for good, with its files."""
        self.kill()
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)


# --- moto's SES server -------------------------------------------------------------------------------------


@dataclass
class MotoSES:
    """A moto server emulating Amazon SES, with helpers to read back what it received."""

    port: int
    from_domain: str = "example.com"
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client_params(self) -> dict[str, str]:
        return {
            "endpoint_url": self.url,
            "region_name": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }

    def env(self) -> dict[str, str]:
        """Environment for a subprocess (a Celery worker) that should send through this server."""
        return {
            "ESP": "amazon_ses",
            "AMAZON_SES_ENDPOINT_URL": self.url,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "DEFAULT_FROM_EMAIL": f"Trending Papers <papers@{self.from_domain}>",
        }

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).read()
        self.verify_sender()

    def verify_sender(self) -> None:
        import boto3

        client = boto3.client("ses", **self.client_params())
        client.verify_domain_identity(Domain=self.from_domain)

    def raw_messages(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=30) as response:
            data = json.load(response)
        raw = data.get("ses", {}).get("RawMessage", [])
        # moto 5 lists them flat; older versions keyed them by account and region.
        if isinstance(raw, dict):
            return [m for region in raw.values() for m in (region.values() if isinstance(region, dict) else region)]
        return list(raw)

    def messages(self) -> list[Message]:
        return [email.message_from_string(item["raw_data"]) for item in self.raw_messages()]


@contextmanager
def run_moto_ses() -> Iterator[MotoSES]:
    port = free_port()
    log = open(os.devnull, "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=log,
    )
    server = MotoSES(port=port, process=process)
    try:
        wait_for_port(port, timeout=30)
        server.verify_sender()
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


# --- Celery worker and beat subprocesses -------------------------------------------------------------------


@dataclass
class CeleryProcess:
    """A real ``celery worker`` or ``celery beat`` started from this checkout."""

    args: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None
    _log: object = field(default=None, repr=False)

    def start(self, *, ready_timeout: float = 60.0) -> CeleryProcess:
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so a kill reaches the pool children too
        )
        if self.args[0] == "worker":
            self.wait_for_log("ready.", timeout=ready_timeout)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, *, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"celery exited early ({self.process.returncode}):\n{self.log()[-4000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"{text!r} not in the celery log after {timeout}s:\n{self.log()[-4000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the whole process group (main process and pool children), as a crash would."""
        if self.process is None or self.process.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]
            self._log = None


def subprocess_env(*, database_url: str, redis_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    scrub = ("EMAIL_BACKEND", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in scrub}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SITE_URL": "http://testserver",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


# --- A PostgreSQL of a test's own ----------------------------------------------------------------------------


def _postgres_bin(name: str) -> str | None:
    """The newest installed server binary ``name`` (initdb, pg_ctl): Debian keeps them out of PATH."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    return str(found[-1]) if found else shutil.which(name)


@dataclass
class PostgresServer:
    """A private PostgreSQL cluster (initdb into a folder of its own, trust auth, a free port) a test may restart.

    Never the machine's instance: a fault test stops and starts this one under running workers. PostgreSQL refuses
    to run as root, so under root (a container) the cluster belongs to the ``postgres`` user, in a folder of its
    own outside pytest's (root-only) tmp_path.
    """

    base_dir: Path
    port: int = field(default_factory=free_port)

    @classmethod
    def create(cls) -> PostgresServer:
        base = Path(tempfile.mkdtemp(prefix="fault-pg-"))
        if os.geteuid() == 0:
            shutil.chown(base, user="postgres", group="postgres")
        return cls(base_dir=base)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run(self, name: str, *args: str, timeout: float = 60.0) -> None:
        binary = _postgres_bin(name)
        if binary is None:
            unavailable(f"no {name}: PostgreSQL's server binaries are not installed")
        as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*as_owner, str(binary), *args], check=True, capture_output=True, timeout=timeout)

    def _pg_ctl(self, *args: str, timeout: float = 60.0) -> None:
        log = str(self.base_dir / "postgres.log")
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", log, "-w", *args, timeout=timeout)

    def start(self) -> PostgresServer:
        if not (self.data_dir / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off"
        self._pg_ctl("start", "-o", options)
        wait_for_port(self.port)
        return self

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every connection is cut; the server answers again when this returns."""
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        with suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
