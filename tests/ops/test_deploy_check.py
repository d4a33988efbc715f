"""``manage.py check --deploy`` under production variables, run as the operator would: a fresh process."""

from __future__ import annotations

from pathlib import Path

from tests.ops.conftest import PRODUCTION_ENV, manage


def test_check_deploy_is_clean_with_production_variables(tmp_path: Path) -> None:
    env = {
        **PRODUCTION_ENV,
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        "REDIS_URL": "redis://127.0.0.1:6379/5",
    }
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_flags_what_an_operator_switched_off(tmp_path: Path) -> None:
    # Proves the check above can fail: turning HSTS and the HTTPS redirect off must be reported.
    env = {**PRODUCTION_ENV, "VAR_DIR": str(tmp_path), "SECURE_HSTS_SECONDS": "0", "SECURE_SSL_REDIRECT": "0"}
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "security.W004" in result.stderr
    assert "security.W008" in result.stderr


def test_production_refuses_to_start_without_secret_key(tmp_path: Path) -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = manage("check", env={**env, "VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "Set the environment variable SECRET_KEY." in result.stderr


def test_production_defaults_follow_site_url(tmp_path: Path) -> None:
    code = (
        "from django.conf import settings as s;"
        "print(s.ALLOWED_HOSTS, s.CSRF_TRUSTED_ORIGINS, s.SESSION_COOKIE_SECURE, s.SECURE_HSTS_SECONDS,"
        " s.STORAGES['staticfiles']['BACKEND'])"
    )
    result = manage("shell", "-c", code, env={**PRODUCTION_ENV, "VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "['papers.example.org'] ['https://papers.example.org'] True 31536000 "
        "whitenoise.storage.CompressedManifestStaticFilesStorage"
    )
