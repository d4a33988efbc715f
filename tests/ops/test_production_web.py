"""The web process as production runs it: collectstatic, then gunicorn with DEBUG off, behind a TLS proxy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.conftest import PRODUCTION_ENV, manage
from tests.support.services import ROOT, database_url_for, free_port, wait_for_port


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers={"Host": "papers.example.org", **(headers or {})})
    try:
        with opener.open(request, timeout=20) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture
def gunicorn(postgres: None, redis_url: str, tmp_path: Path) -> Iterator[str]:
    from django.db import connection

    env = {
        **PRODUCTION_ENV,
        "VAR_DIR": str(tmp_path / "var"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "REDIS_URL": redis_url,
        "SECURE_PROXY_SSL_HEADER": "1",
    }
    collected = manage("collectstatic", "--noinput", env=env, timeout=300)
    assert collected.returncode == 0, collected.stderr
    port = free_port()
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115
    run_env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "EMAIL_BACKEND")}
    run_env.update(env)
    run_env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "-c", "python:config.gunicorn", "config.wsgi:application"),
            *("--bind", f"127.0.0.1:{port}"),
            *("--workers", "1", "--forwarded-allow-ips", "127.0.0.1"),
        ],
        cwd=ROOT,
        env=run_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.mark.realparts
@pytest.mark.django_db(transaction=True)
def test_gunicorn_serves_the_site_with_production_settings(gunicorn: str, tmp_path: Path) -> None:
    # Plain HTTP from a client: redirected to HTTPS, with no HSTS (browsers ignore it over HTTP anyway).
    status, headers, _ = get(f"{gunicorn}/")
    assert status == 301
    assert headers["Location"] == "https://papers.example.org/"

    # The load balancer's probe over plain HTTP is answered, not redirected.
    status, _, body = get(f"{gunicorn}/healthz")
    assert status == 200
    assert json.loads(body)["checks"]["database"]["ok"] is True

    # Through the TLS proxy: the page, HSTS, secure cookies, and a hashed static URL.
    proxied = {"X-Forwarded-Proto": "https"}
    status, headers, body = get(f"{gunicorn}/", proxied)
    assert status == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "csrftoken=" in headers["Set-Cookie"] and "Secure" in headers["Set-Cookie"]

    # WhiteNoise serves the admin's stylesheet under its content-hashed name, cacheable for ever.
    status, _, page = get(f"{gunicorn}/admin/login/", proxied)
    assert status == 200
    css = next(part.split('"')[0] for part in page.decode().split('href="') if part.startswith("/static/admin/css/"))
    assert css.count(".") >= 2, f"not a hashed name: {css}"
    status, headers, _ = get(f"{gunicorn}{css}", proxied)
    assert status == 200
    assert "max-age=315360000" in headers["Cache-Control"]

    # Every line gunicorn wrote is a JSON object; access lines carry the request as fields.
    lines = [json.loads(line) for line in (tmp_path / "gunicorn.log").read_text().splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    probe = next(line for line in access if line["http_path"] == "/healthz")
    assert (probe["http_method"], probe["http_status"], probe["level"]) == ("GET", 200, "INFO")
    assert probe["duration_ms"] > 0
