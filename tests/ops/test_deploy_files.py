"""The Procfile, systemd units and example environment agree with the code they start."""

from __future__ import annotations

import re
from pathlib import Path

from config.routing import QUEUES
from tests.ops.conftest import manage
from tests.support.services import ROOT

QUEUE_NAMES = {queue.name for queue in QUEUES}


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def test_procfile_has_a_worker_per_queue_and_one_beat() -> None:
    processes = procfile()
    consumed = [m for cmd in processes.values() for m in re.findall(r"worker -Q (\S+)", cmd)]
    assert sorted(consumed) == sorted(QUEUE_NAMES)  # each queue once, no queue left without a worker
    assert sum(" beat" in cmd for cmd in processes.values()) == 1
    assert "--prefetch-multiplier 1" in processes["sending"]
    assert processes["web"].startswith("gunicorn -c python:config.gunicorn config.wsgi:application")


def test_systemd_units_cover_web_workers_and_beat() -> None:
    units = {path.name: path.read_text() for path in (ROOT / "deploy" / "systemd").glob("*.service")}
    assert set(units) == {
        "trending-papers-web.service",
        "trending-papers-worker@.service",
        "trending-papers-beat.service",
    }
    worker = units["trending-papers-worker@.service"]
    assert "worker -Q %i" in worker and "--prefetch-multiplier 1" in worker
    for text in units.values():
        assert "EnvironmentFile=/etc/trending-papers/env" in text
        assert re.search(r"^ExecStart=/opt/trending-papers/\.venv/bin/", text, flags=re.MULTILINE)


def test_the_example_environment_file_passes_check_deploy(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    for line in (ROOT / "deploy" / "env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    env["VAR_DIR"] = str(tmp_path)
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stderr
