"""``manage.py doctor`` run as a subprocess, as an operator runs it, against a good and a broken configuration."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.ops.conftest import PRODUCTION_ENV, manage
from tests.ops.dns_zones import good_records
from tests.support.dns_server import dns_server
from tests.support.services import MotoSES, database_url_for, free_port


@pytest.fixture
def good_env(postgres: None, redis_url: str, ses: MotoSES, tmp_path: Path) -> Iterator[dict[str, str]]:
    from django.db import connection

    # example.com's DNS as an operator who followed the README publishes it (SPF for SES and Postmark, DKIM, DMARC),
    # served on loopback; unverified.example.net has no records at all.
    with dns_server(good_records(ses, "example.com")) as dns:
        yield {
            **PRODUCTION_ENV,
            **ses.env(),
            "VAR_DIR": str(tmp_path),
            # The migrated test database of this run.
            "DATABASE_URL": database_url_for(connection.settings_dict),
            "REDIS_URL": redis_url,
            "DNS_NAMESERVERS": dns.nameserver,
        }


def lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines()]


def test_good_configuration_passes(good_env: dict[str, str]) -> None:
    result = manage("doctor", env=good_env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = lines(result.stdout)
    assert "ok  settings: manage.py check --deploy is clean" in out
    assert "ok  SITE_URL: https://papers.example.org is absolute" in out
    assert "ok  database: reachable (postgresql), all migrations applied" in out
    assert "ok  broker: redis reachable" in out
    assert any(line.startswith("ok  ESP: amazon_ses in us-east-1 accepted the credentials (quota") for line in out)
    assert "ok  sender: papers@example.com may send (verified: example.com)" in out
    assert "ok  SPF: SPF at example.com allows amazon_ses (include:amazonses.com)" in out
    assert "ok  DKIM: the 3 CNAMEs SES expects are published at example.com (SES: Success)" in out
    assert "ok  DMARC: DMARC at _dmarc.example.com: policy quarantine" in out
    assert out[-1] == "All checks passed: this configuration can send."


def test_broken_configuration_names_each_problem_and_its_fix(good_env: dict[str, str], tmp_path: Path) -> None:
    env = {
        **good_env,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}",
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "SITE_URL": "http://papers.example.org",
        "CSRF_TRUSTED_ORIGINS": "https://papers.example.org",
        "DEFAULT_FROM_EMAIL": "Papers <papers@unverified.example.net>",
    }
    result = manage("doctor", env=env)
    assert result.returncode == 1
    out = result.stdout
    assert "FAIL SITE_URL: http://papers.example.org is not https" in out
    assert "FAIL database: reachable (sqlite) but" in out
    assert "fix: run: python manage.py migrate" in out
    assert "FAIL broker: redis: " in out
    assert "fix: check REDIS_URL" in out
    assert (
        "FAIL sender: neither papers@unverified.example.net nor unverified.example.net is verified in SES us-east-1"
        in out
    )
    assert "fix: verify the domain unverified.example.net in the SES console" in out
    assert "FAIL SPF: no SPF record (TXT v=spf1) at unverified.example.net" in out
    assert "FAIL DKIM: SES has no DKIM tokens for unverified.example.net" in out
    assert "FAIL DMARC: no DMARC record (TXT v=DMARC1) at _dmarc.unverified.example.net" in out
    assert "CommandError: 7 problem(s) to fix" in result.stderr


def test_unreachable_esp(good_env: dict[str, str]) -> None:
    env = {**good_env, "AMAZON_SES_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    result = manage("doctor", env=env)
    assert result.returncode == 1
    assert "FAIL ESP: amazon_ses unreachable in us-east-1" in result.stdout
    assert "fix: check AWS_REGION (and AMAZON_SES_ENDPOINT_URL if you set one) and outbound HTTPS" in result.stdout


class _PostmarkServerAPI(BaseHTTPRequestHandler):
    """Answers GET /server the way Postmark does: 200 for the right X-Postmark-Server-Token, 401 otherwise."""

    def do_GET(self) -> None:
        ok = self.path == "/server" and self.headers.get("X-Postmark-Server-Token") == "right-token"
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"Name": "newsletter"}' if ok else b'{"ErrorCode": 10}')

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def postmark_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PostmarkServerAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.mark.parametrize(("token", "expected"), [("right-token", 0), ("wrong-token", 1)])
def test_http_esp_credentials_are_tried_read_only(
    good_env: dict[str, str], postmark_api: str, token: str, expected: int
) -> None:
    env = {
        **{k: v for k, v in good_env.items() if not k.startswith(("AWS_", "AMAZON_"))},
        "ESP": "postmark",
        "POSTMARK_SERVER_TOKEN": token,
        "POSTMARK_API_URL": postmark_api,
    }
    result = manage("doctor", env=env)
    assert result.returncode == expected, result.stdout
    if expected == 0:
        assert "ok  ESP: postmark accepted the credentials" in result.stdout
        assert "WARN sender: papers@example.com: postmark's key cannot list verified senders" in result.stdout
    else:
        assert "FAIL ESP: postmark rejected the credentials (HTTP 401)" in result.stdout
        assert "fix: check the key in the environment (POSTMARK_SERVER_TOKEN)" in result.stdout
