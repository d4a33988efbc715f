"""The email service provider, chosen by ``ESP`` and mapped onto Anymail's settings in this one place.

Each ESP reads its keys from environment variables named exactly as Anymail's settings (``POSTMARK_SERVER_TOKEN``,
``MAILGUN_API_KEY``, ...), so the operator can follow Anymail's own documentation. An unknown ESP name or a missing
key raises ``ImproperlyConfigured`` when settings load, so a worker never starts up unable to send.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class EspSpec:
    """What one Anymail backend needs: the variables it cannot run without and those it may take."""

    backend: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    # Where to look up the keys in the ESP's console, for the error message.
    hint: str = ""
    # The Anymail setting an HTTP ESP's base URL lives in (doctor's dry call honours an override there).
    api_url_setting: str = ""
    default_api_url: str = ""
    # Another variable accepted where a required one is missing (boto3's own AWS_DEFAULT_REGION for AWS_REGION).
    fallbacks: Mapping[str, str] = field(default_factory=dict)
    # The domain the ESP's servers send from, as an SPF record names it (``include:<domain>``); doctor checks the
    # sender domain's SPF allows it. Empty where it depends on the account (Postal is self-hosted).
    spf_include: str = ""


ESPS: dict[str, EspSpec] = {
    "amazon_ses": EspSpec(
        backend="anymail.backends.amazon_ses.EmailBackend",
        required=("AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
        optional=("AMAZON_SES_ENDPOINT_URL", "AMAZON_SES_CONFIGURATION_SET_NAME"),
        hint="an IAM user allowed ses:SendRawEmail, ses:GetSendQuota and ses:GetIdentityDkimAttributes",
        fallbacks={"AWS_REGION": "AWS_DEFAULT_REGION"},
        spf_include="amazonses.com",
    ),
    "brevo": EspSpec(
        backend="anymail.backends.brevo.EmailBackend",
        required=("BREVO_API_KEY",),
        optional=("BREVO_API_URL",),
        hint="Brevo > SMTP & API > API keys",
        spf_include="spf.brevo.com",
        api_url_setting="BREVO_API_URL",
        default_api_url="https://api.brevo.com/v3/",
    ),
    "mailersend": EspSpec(
        backend="anymail.backends.mailersend.EmailBackend",
        required=("MAILERSEND_API_TOKEN",),
        # The signing secrets of the tracking and the inbound webhooks (MailerSend > Webhooks / Inbound routing).
        optional=(
            "MAILERSEND_API_URL",
            "MAILERSEND_BATCH_SEND_MODE",
            "MAILERSEND_SIGNING_SECRET",
            "MAILERSEND_INBOUND_SECRET",
        ),
        hint="MailerSend > Domains > API tokens",
        spf_include="_spf.mailersend.net",
        api_url_setting="MAILERSEND_API_URL",
        default_api_url="https://api.mailersend.com/v1/",
    ),
    "mailgun": EspSpec(
        backend="anymail.backends.mailgun.EmailBackend",
        required=("MAILGUN_API_KEY",),
        optional=("MAILGUN_SENDER_DOMAIN", "MAILGUN_API_URL", "MAILGUN_WEBHOOK_SIGNING_KEY"),
        hint="Mailgun > API Security; for the EU region set MAILGUN_API_URL=https://api.eu.mailgun.net/v3",
        spf_include="mailgun.org",
        api_url_setting="MAILGUN_API_URL",
        default_api_url="https://api.mailgun.net/v3",
    ),
    "mailjet": EspSpec(
        backend="anymail.backends.mailjet.EmailBackend",
        required=("MAILJET_API_KEY", "MAILJET_SECRET_KEY"),
        optional=("MAILJET_API_URL",),
        hint="Mailjet > Account settings > API keys",
        spf_include="spf.mailjet.com",
        api_url_setting="MAILJET_API_URL",
        default_api_url="https://api.mailjet.com/v3.1/",
    ),
    "mandrill": EspSpec(
        backend="anymail.backends.mandrill.EmailBackend",
        required=("MANDRILL_API_KEY",),
        optional=("MANDRILL_WEBHOOK_KEY", "MANDRILL_WEBHOOK_URL"),
        hint="Mandrill > Settings > SMTP & API info",
        spf_include="spf.mandrillapp.com",
    ),
    "postal": EspSpec(
        backend="anymail.backends.postal.EmailBackend",
        required=("POSTAL_API_KEY", "POSTAL_API_URL"),
        optional=("POSTAL_WEBHOOK_KEY",),
        hint="your Postal server's credentials page",
    ),
    "postmark": EspSpec(
        backend="anymail.backends.postmark.EmailBackend",
        required=("POSTMARK_SERVER_TOKEN",),
        optional=("POSTMARK_API_URL",),
        hint="Postmark > Servers > API Tokens",
        spf_include="spf.mtasv.net",
        api_url_setting="POSTMARK_API_URL",
        default_api_url="https://api.postmarkapp.com/",
    ),
    "resend": EspSpec(
        backend="anymail.backends.resend.EmailBackend",
        required=("RESEND_API_KEY",),
        optional=("RESEND_API_URL", "RESEND_SIGNING_SECRET"),
        hint="Resend > API Keys (full access, so the domain check works)",
        spf_include="amazonses.com",
        api_url_setting="RESEND_API_URL",
        default_api_url="https://api.resend.com/",
    ),
    "scaleway": EspSpec(
        backend="anymail.backends.scaleway.EmailBackend",
        required=("SCALEWAY_SECRET_KEY", "SCALEWAY_PROJECT_ID"),
        optional=("SCALEWAY_REGION",),
        hint="Scaleway > IAM > API keys",
    ),
    "sendgrid": EspSpec(
        backend="anymail.backends.sendgrid.EmailBackend",
        required=("SENDGRID_API_KEY",),
        optional=("SENDGRID_API_URL",),
        hint="SendGrid > Settings > API Keys",
        spf_include="sendgrid.net",
        api_url_setting="SENDGRID_API_URL",
        default_api_url="https://api.sendgrid.com/v3/",
    ),
    "sparkpost": EspSpec(
        backend="anymail.backends.sparkpost.EmailBackend",
        required=("SPARKPOST_API_KEY",),
        optional=("SPARKPOST_API_URL", "SPARKPOST_SUBACCOUNT"),
        hint="SparkPost > Configuration > API Keys; EU accounts set SPARKPOST_API_URL",
        spf_include="sparkpostmail.com",
        api_url_setting="SPARKPOST_API_URL",
        default_api_url="https://api.sparkpost.com/api/v1/",
    ),
    "unisender_go": EspSpec(
        backend="anymail.backends.unisender_go.EmailBackend",
        required=("UNISENDER_GO_API_KEY", "UNISENDER_GO_API_URL"),
        hint="Unisender Go > Account > Security",
    ),
}


@dataclass(frozen=True)
class EmailConfig:
    backend: str
    anymail: dict[str, object]


def _present(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def _required(environ: Mapping[str, str], spec: EspSpec, name: str) -> str:
    """A required variable's value, or its fallback's: AWS users often set only boto3's ``AWS_DEFAULT_REGION``."""
    fallback = spec.fallbacks.get(name)
    return _present(environ, name) or (_present(environ, fallback) if fallback else "")


def email_config(esp: str, environ: Mapping[str, str]) -> EmailConfig:
    """Anymail's ``EMAIL_BACKEND`` and ``ANYMAIL`` settings for ``esp``, from ``environ``.

    ``esp`` empty means the embedded ``.eml`` outbox. Raises ``ImproperlyConfigured`` naming every missing variable
    at once, so an operator fixes the environment file in one go.
    """
    name = esp.strip().lower()
    if not name:
        return EmailConfig(backend="config.mail.OutboxBackend", anymail={})
    spec = ESPS.get(name)
    if spec is None:
        raise ImproperlyConfigured(
            f"ESP={esp!r} is not a supported email service provider. Use one of: {', '.join(sorted(ESPS))}; "
            "or leave ESP unset to write emails to the var/outbox/ folder."
        )
    missing = [var for var in spec.required if not _required(environ, spec, var)]
    if missing:
        missing = [f"{var} (or {spec.fallbacks[var]})" if var in spec.fallbacks else var for var in missing]
        where = f" (from {spec.hint})" if spec.hint else ""
        raise ImproperlyConfigured(f"ESP={name} needs {', '.join(missing)} set in the environment{where}.")
    if name == "amazon_ses":
        return EmailConfig(backend=spec.backend, anymail=_amazon_ses(environ, spec))
    anymail: dict[str, object] = {}
    for var in (*spec.required, *spec.optional):
        value = _present(environ, var)
        if value:
            # The variable names are Anymail's setting names, so they pass through unchanged.
            anymail[var] = value
    return EmailConfig(backend=spec.backend, anymail=anymail)


def _amazon_ses(environ: Mapping[str, str], spec: EspSpec) -> dict[str, object]:
    client: dict[str, object] = {
        "region_name": _required(environ, spec, "AWS_REGION"),
        "aws_access_key_id": _present(environ, "AWS_ACCESS_KEY_ID"),
        "aws_secret_access_key": _present(environ, "AWS_SECRET_ACCESS_KEY"),
    }
    endpoint = _present(environ, "AMAZON_SES_ENDPOINT_URL")
    if endpoint:
        if not endpoint.startswith(("http://", "https://")):
            raise ImproperlyConfigured(f"AMAZON_SES_ENDPOINT_URL={endpoint!r} must be an http(s) URL.")
        # An emulator (moto) in tests and CI; unset in production so boto3 picks the region's endpoint.
        client["endpoint_url"] = endpoint
    anymail: dict[str, object] = {"AMAZON_SES_CLIENT_PARAMS": client}
    config_set = _present(environ, "AMAZON_SES_CONFIGURATION_SET_NAME")
    if config_set:
        anymail["AMAZON_SES_CONFIGURATION_SET_NAME"] = config_set
    return anymail


def all_variables() -> set[str]:
    """Every variable any ESP reads: .env.example must mention each (a test checks)."""
    return {
        "ESP",
        *(var for spec in ESPS.values() for var in (*spec.required, *spec.optional, *spec.fallbacks.values())),
    }
