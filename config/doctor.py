"""``manage.py doctor``: is the configuration about to run able to send a newsletter? Each check says what to fix.

The checks talk to the real services (database, broker, the ESP's API) with short timeouts, and never send mail:
for the ESP they make the read-only call that proves the credentials are accepted (Amazon SES: GetSendQuota) and,
where the ESP exposes it, that the sender's address or domain is verified. The sender domain's SPF, DKIM and DMARC
records are looked up in DNS (``config.doctor_dns``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

import botocore.exceptions
import requests
from django.conf import settings
from django.core.checks import WARNING, run_checks
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from config.doctor_dns import check_dns, ses_client, ses_client_params
from config.esp import ESPS
from config.findings import Finding, sender_address
from config.health import check_broker as probe_broker


def check_database() -> list[Finding]:
    try:
        connection.ensure_connection()
    except Exception as exc:
        return [
            Finding(
                "database",
                False,
                f"cannot connect: {type(exc).__name__}: {exc}".strip(),
                "check DATABASE_URL (host, port, user, password, database name) and that the server is running",
            )
        ]
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in pending[:5])
        more = f" and {len(pending) - 5} more" if len(pending) > 5 else ""
        return [
            Finding(
                "database",
                False,
                f"reachable ({connection.vendor}) but {len(pending)} migrations are not applied: {names}{more}",
                "run: python manage.py migrate",
            )
        ]
    return [Finding("database", True, f"reachable ({connection.vendor}), all migrations applied")]


def check_broker() -> list[Finding]:
    result = probe_broker(timeout=3.0)
    if not result["ok"]:
        return [
            Finding(
                "broker",
                False,
                f"{result['transport']}: {result['error']}",
                "check REDIS_URL and that Redis is running and reachable from this host",
            )
        ]
    findings = [Finding("broker", True, f"{result['transport']} reachable")]
    if not settings.REDIS_URL and not settings.DEBUG:
        findings.append(
            Finding(
                "broker",
                False,
                "no REDIS_URL: the file broker only works for processes on this one host",
                "set REDIS_URL=redis://HOST:6379/0 for a production deployment",
            )
        )
    return findings


def check_site_url() -> list[Finding]:
    parts = urlsplit(settings.SITE_URL)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return [
            Finding("SITE_URL", False, f"{settings.SITE_URL!r} is not absolute", "set SITE_URL=https://your.domain")
        ]
    if not settings.DEBUG and parts.scheme != "https":
        return [
            Finding(
                "SITE_URL",
                False,
                f"{settings.SITE_URL} is not https: links in every email would be sent in the clear",
                "set SITE_URL=https://your.domain",
            )
        ]
    if not settings.DEBUG and parts.hostname in ("localhost", "127.0.0.1", "::1", "testserver"):
        return [
            Finding(
                "SITE_URL",
                False,
                f"{settings.SITE_URL} points at this machine: subscribers could not open its links",
                "set SITE_URL to the public address",
            )
        ]
    return [Finding("SITE_URL", True, f"{settings.SITE_URL} is absolute")]


def check_sender_format() -> list[Finding]:
    address = sender_address()
    domain = address.rpartition("@")[2]
    if "@" not in address or "." not in domain:
        return [
            Finding(
                "sender",
                settings.DEBUG and not settings.ESP,
                f"DEFAULT_FROM_EMAIL={settings.DEFAULT_FROM_EMAIL!r} has no usable address",
                'set DEFAULT_FROM_EMAIL="Trending Papers <papers@your.domain>"',
                # The embedded outbox accepts any sender; only a real ESP needs a real domain.
                warning=settings.DEBUG and not settings.ESP,
            )
        ]
    return []


def check_esp() -> list[Finding]:
    esp = settings.ESP
    if not esp:
        if settings.DEBUG:
            return [Finding("ESP", True, f"none: emails are written to {settings.EMAIL_FILE_PATH}", warning=True)]
        return [
            Finding(
                "ESP",
                False,
                f"ESP is unset: emails go to {settings.EMAIL_FILE_PATH} and reach nobody",
                f"set ESP to one of {', '.join(sorted(ESPS))} and its keys (see .env.example)",
            )
        ]
    if esp == "amazon_ses":
        return check_amazon_ses()
    probe = HTTP_PROBES.get(esp)
    if probe is None:
        return [
            Finding(
                "ESP",
                True,
                f"{esp}: keys present; this ESP offers no read-only call to test them",
                "send yourself a test from the admin before the first edition",
                warning=True,
            )
        ]
    return probe()


def check_amazon_ses() -> list[Finding]:
    client = ses_client()
    region = ses_client_params().get("region_name", "?")
    try:
        quota = client.get_send_quota()
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        return [
            Finding(
                "ESP",
                False,
                f"amazon_ses rejected the credentials ({code}): {exc}",
                "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and that the IAM user may call ses:GetSendQuota",
            )
        ]
    except (botocore.exceptions.BotoCoreError, OSError) as exc:
        return [
            Finding(
                "ESP",
                False,
                f"amazon_ses unreachable in {region}: {exc}",
                "check AWS_REGION (and AMAZON_SES_ENDPOINT_URL if you set one) and outbound HTTPS",
            )
        ]
    findings = [
        Finding(
            "ESP",
            True,
            f"amazon_ses in {region} accepted the credentials (quota {quota.get('Max24HourSend', 0):.0f}/24h, "
            f"{quota.get('MaxSendRate', 0):.0f}/s)",
        )
    ]
    address = sender_address()
    domain = address.rpartition("@")[2]
    try:
        attributes = client.get_identity_verification_attributes(Identities=[address, domain])
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError) as exc:
        findings.append(Finding("sender", False, f"could not read identity verification: {exc}", "retry"))
        return findings
    statuses = {
        identity: item.get("VerificationStatus", "")
        for identity, item in attributes.get("VerificationAttributes", {}).items()
    }
    verified = [identity for identity, status in statuses.items() if status == "Success"]
    if verified:
        findings.append(Finding("sender", True, f"{address} may send (verified: {', '.join(verified)})"))
    else:
        seen = ", ".join(f"{k}={v}" for k, v in statuses.items()) or "neither is known to SES"
        findings.append(
            Finding(
                "sender",
                False,
                f"neither {address} nor {domain} is verified in SES {region} ({seen})",
                f"verify the domain {domain} in the SES console (DKIM records in DNS), or change DEFAULT_FROM_EMAIL",
            )
        )
    return findings


def _http_probe(
    esp: str, path: str, *, headers: dict[str, str] | None = None, auth: tuple[str, str] | None = None
) -> tuple[Finding, Any]:
    spec = ESPS[esp]
    base = str(settings.ANYMAIL.get(spec.api_url_setting) or spec.default_api_url)
    url = urljoin(base if base.endswith("/") else base + "/", path)
    try:
        response = requests.get(url, headers=headers or {}, auth=auth, timeout=10)
    except requests.RequestException as exc:
        return Finding("ESP", False, f"{esp} unreachable at {url}: {exc}", "check outbound HTTPS to the ESP"), None
    if response.status_code in (401, 403):
        return (
            Finding(
                "ESP",
                False,
                f"{esp} rejected the credentials (HTTP {response.status_code})",
                f"check the key in the environment ({', '.join(spec.required)}); get one at {spec.hint}",
            ),
            None,
        )
    if response.status_code >= 400:
        return (
            Finding("ESP", False, f"{esp} answered HTTP {response.status_code} at {url}", "see the ESP's status"),
            None,
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    return Finding("ESP", True, f"{esp} accepted the credentials"), body


def _unchecked_sender(esp: str) -> Finding:
    return Finding(
        "sender",
        True,
        f"{sender_address()}: {esp}'s key cannot list verified senders",
        "make sure the domain is verified in the ESP's console",
        warning=True,
    )


def probe_postmark() -> list[Finding]:
    token = str(settings.ANYMAIL["POSTMARK_SERVER_TOKEN"])
    finding, _ = _http_probe("postmark", "server", headers={"X-Postmark-Server-Token": token})
    return [finding, _unchecked_sender("postmark")] if finding.ok else [finding]


def probe_sendgrid() -> list[Finding]:
    key = str(settings.ANYMAIL["SENDGRID_API_KEY"])
    finding, _ = _http_probe("sendgrid", "scopes", headers={"Authorization": f"Bearer {key}"})
    return [finding, _unchecked_sender("sendgrid")] if finding.ok else [finding]


def probe_brevo() -> list[Finding]:
    key = str(settings.ANYMAIL["BREVO_API_KEY"])
    finding, _ = _http_probe("brevo", "account", headers={"api-key": key})
    return [finding, _unchecked_sender("brevo")] if finding.ok else [finding]


def probe_sparkpost() -> list[Finding]:
    key = str(settings.ANYMAIL["SPARKPOST_API_KEY"])
    finding, _ = _http_probe("sparkpost", "account", headers={"Authorization": key})
    return [finding, _unchecked_sender("sparkpost")] if finding.ok else [finding]


def probe_mailgun() -> list[Finding]:
    domain = str(settings.ANYMAIL.get("MAILGUN_SENDER_DOMAIN") or sender_address().rpartition("@")[2])
    key = str(settings.ANYMAIL["MAILGUN_API_KEY"])
    finding, body = _http_probe("mailgun", f"domains/{domain}", auth=("api", key))
    if not finding.ok:
        return [finding]
    state = (body or {}).get("domain", {}).get("state", "")
    if state == "active":
        return [finding, Finding("sender", True, f"mailgun domain {domain} is active")]
    return [
        finding,
        Finding("sender", False, f"mailgun domain {domain} is {state or 'unknown'}", "finish its DNS verification"),
    ]


def probe_resend() -> list[Finding]:
    key = str(settings.ANYMAIL["RESEND_API_KEY"])
    finding, body = _http_probe("resend", "domains", headers={"Authorization": f"Bearer {key}"})
    if not finding.ok:
        return [finding]
    domain = sender_address().rpartition("@")[2]
    statuses = {item.get("name"): item.get("status") for item in (body or {}).get("data", [])}
    if statuses.get(domain) == "verified":
        return [finding, Finding("sender", True, f"resend domain {domain} is verified")]
    return [
        finding,
        Finding(
            "sender",
            False,
            f"resend domain {domain} is {statuses.get(domain) or 'not added'}",
            "add and verify the domain in Resend > Domains",
        ),
    ]


HTTP_PROBES = {
    "brevo": probe_brevo,
    "mailgun": probe_mailgun,
    "postmark": probe_postmark,
    "resend": probe_resend,
    "sendgrid": probe_sendgrid,
    "sparkpost": probe_sparkpost,
}


def check_deploy_settings() -> list[Finding]:
    if settings.DEBUG:
        return [
            Finding(
                "settings",
                True,
                "DEBUG is on: fine on a laptop, never in production",
                "set DEBUG=0 in production",
                warning=True,
            )
        ]
    problems = [m for m in run_checks(include_deployment_checks=True) if m.level >= WARNING]
    if not problems:
        return [Finding("settings", True, "manage.py check --deploy is clean")]
    return [Finding("settings", False, f"{m.id}: {m.msg}", m.hint or "") for m in problems]


def run_all() -> list[Finding]:
    findings: list[Finding] = []
    for check in (
        check_deploy_settings,
        check_site_url,
        check_database,
        check_broker,
        check_sender_format,
        check_esp,
        check_dns,
    ):
        try:
            findings.extend(check())
        except Exception as exc:  # a check that crashes is itself a finding, and the others still run
            findings.append(Finding(check.__name__.removeprefix("check_"), False, f"{type(exc).__name__}: {exc}"))
    return findings
