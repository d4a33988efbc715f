"""config/esp.py: every ESP maps onto settings Anymail accepts; gaps fail at start-up with a clear message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import get_connection

from config.esp import ESPS, all_variables, email_config
from tests.ops.conftest import PRODUCTION_ENV, manage
from tests.support.services import ROOT


def _complete_env(name: str) -> dict[str, str]:
    env = {var: f"value-for-{var.lower()}" for var in ESPS[name].required}
    for var in env:
        if var.endswith("_URL"):
            env[var] = "https://esp.example.net/api/"
    if name == "amazon_ses":
        env["AWS_REGION"] = "eu-west-1"
    return env


@pytest.mark.parametrize("name", sorted(ESPS))
def test_each_esp_maps_onto_settings_its_anymail_backend_accepts(name: str, settings) -> None:
    config = email_config(name, _complete_env(name))
    settings.EMAIL_BACKEND = config.backend
    settings.ANYMAIL = config.anymail
    # Instantiating the backend is where Anymail reads (and would reject) its settings.
    backend = get_connection()
    assert type(backend).__module__ == f"anymail.backends.{name}"


@pytest.mark.parametrize("name", sorted(ESPS))
def test_each_missing_key_is_named(name: str) -> None:
    required = ESPS[name].required
    with pytest.raises(ImproperlyConfigured) as excinfo:
        email_config(name, {})
    message = str(excinfo.value)
    assert message.startswith(f"ESP={name} needs ")
    for var in required:
        assert var in message


def test_blank_values_count_as_missing() -> None:
    with pytest.raises(ImproperlyConfigured, match="ESP=mailjet needs MAILJET_SECRET_KEY set"):
        email_config("mailjet", {"MAILJET_API_KEY": "k", "MAILJET_SECRET_KEY": "  "})


def test_unknown_esp_lists_the_choices() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"ESP='sendmial' is not a supported .* amazon_ses, brevo"):
        email_config("sendmial", {})


def test_no_esp_is_the_embedded_outbox() -> None:
    config = email_config("", {})
    assert config.backend == "config.mail.OutboxBackend"
    assert config.anymail == {}


def test_amazon_ses_client_params_and_emulator_endpoint() -> None:
    env = {**_complete_env("amazon_ses"), "AMAZON_SES_ENDPOINT_URL": "http://127.0.0.1:5000"}
    config = email_config("AMAZON_SES", env)
    assert config.anymail["AMAZON_SES_CLIENT_PARAMS"] == {
        "region_name": "eu-west-1",
        "aws_access_key_id": "value-for-aws_access_key_id",
        "aws_secret_access_key": "value-for-aws_secret_access_key",
        "endpoint_url": "http://127.0.0.1:5000",
    }
    with pytest.raises(ImproperlyConfigured, match="AMAZON_SES_ENDPOINT_URL"):
        email_config("amazon_ses", {**env, "AMAZON_SES_ENDPOINT_URL": "127.0.0.1:5000"})


def test_optional_keys_pass_through_and_unrelated_ones_do_not() -> None:
    env = {"MAILGUN_API_KEY": "k", "MAILGUN_API_URL": "https://api.eu.mailgun.net/v3", "POSTMARK_SERVER_TOKEN": "t"}
    assert email_config("mailgun", env).anymail == {
        "MAILGUN_API_KEY": "k",
        "MAILGUN_API_URL": "https://api.eu.mailgun.net/v3",
    }


def test_a_missing_key_stops_the_process_at_start_up(tmp_path: Path) -> None:
    env = {**PRODUCTION_ENV, "VAR_DIR": str(tmp_path), "ESP": "sendgrid"}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "ImproperlyConfigured: ESP=sendgrid needs SENDGRID_API_KEY set in the environment" in result.stderr


def test_env_example_documents_every_variable_the_service_reads() -> None:
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    read: set[str] = set(all_variables())
    for path in [*ROOT.glob("config/*.py"), *ROOT.glob("digest/**/*.py"), *ROOT.glob("subscribers/**/*.py")]:
        read.update(re.findall(r"env_(?:str|bool|int|float|list)\(\s*[\"']([A-Z0-9_]+)[\"']", path.read_text()))
    assert read - documented == set()


def test_aws_default_region_is_accepted_where_aws_region_is() -> None:
    env = {k: v for k, v in _complete_env("amazon_ses").items() if k != "AWS_REGION"}
    config = email_config("amazon_ses", {**env, "AWS_DEFAULT_REGION": "ap-south-1"})
    assert config.anymail["AMAZON_SES_CLIENT_PARAMS"]["region_name"] == "ap-south-1"
    # Both set: AWS_REGION, the name this service documents, wins.
    config = email_config("amazon_ses", {**env, "AWS_DEFAULT_REGION": "ap-south-1", "AWS_REGION": "eu-west-1"})
    assert config.anymail["AMAZON_SES_CLIENT_PARAMS"]["region_name"] == "eu-west-1"
    with pytest.raises(ImproperlyConfigured, match=r"needs AWS_REGION \(or AWS_DEFAULT_REGION\) set"):
        email_config("amazon_ses", env)


def test_a_process_starts_with_only_aws_default_region(tmp_path: Path) -> None:
    env = {
        **PRODUCTION_ENV,
        "VAR_DIR": str(tmp_path),
        "ESP": "amazon_ses",
        "AWS_DEFAULT_REGION": "ap-south-1",
        "AWS_ACCESS_KEY_ID": "id",
        "AWS_SECRET_ACCESS_KEY": "secret",
    }
    result = manage(
        "shell", "-c", "from django.conf import settings; print(settings.ANYMAIL['AMAZON_SES_CLIENT_PARAMS'])", env=env
    )
    assert result.returncode == 0, result.stderr
    assert "'region_name': 'ap-south-1'" in result.stdout
