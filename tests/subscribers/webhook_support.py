"""Helpers for the webhook tests: mounting one ESP's URLs, and an SNS signer with a certificate made here.

The signer plays Amazon SNS: an RSA key and a self-signed certificate made by the test, the certificate served by a
local HTTP stand-in at a ``.pem`` path, and ``SNS_TRUSTED_ORIGIN_PATTERN`` pointed at that stand-in's origin only.
"""

from __future__ import annotations

import base64
import importlib
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from django.urls import clear_url_caches

from subscribers.webhooks.sns import canonical_string
from tests.digest.local_http import LocalServer, Route, local_server

SECRET = "anymail:correct-horse-battery"
CERT_PATH = "/SimpleNotificationService-0000000000000000000000.pem"
SUBSCRIBE_PATH = "/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:111122223333:ses-events&Token=t0k3n"
TOPIC_ARN = "arn:aws:sns:us-east-1:111122223333:ses-events"


def basic_auth(secret: str = SECRET) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


def _reload_urls() -> None:
    import config.urls
    import subscribers.webhooks.urls

    # The webhook URLs are chosen from ESP when the URLconf is imported, as in a process started with that ESP.
    importlib.reload(subscribers.webhooks.urls)
    importlib.reload(config.urls)
    clear_url_caches()


@pytest.fixture
def mount_esp(settings) -> Iterator[Callable[..., None]]:
    """``mount_esp("postmark", POSTMARK_SERVER_TOKEN=...)``: configure that ESP and rebuild the URLconf for it,
    exactly as a process started with ``ESP=postmark`` would mount it."""
    original = settings.ESP

    def mount(esp: str, **anymail: Any) -> None:
        settings.ESP = esp
        settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": SECRET, **anymail}
        _reload_urls()

    yield mount
    settings.ESP = original
    _reload_urls()


def make_key_and_certificate(common_name: str = "sns.amazonaws.com") -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM)


@dataclass
class SnsSigner:
    server: LocalServer
    key: rsa.RSAPrivateKey

    @property
    def cert_url(self) -> str:
        return self.server.url(CERT_PATH)

    @property
    def subscribe_url(self) -> str:
        return self.server.url(SUBSCRIBE_PATH)

    def cert_fetches(self) -> int:
        return sum(1 for path, _ in self.server.requests if path == CERT_PATH)

    def confirmations(self) -> int:
        return sum(1 for path, _ in self.server.requests if path == SUBSCRIBE_PATH)

    def sign(
        self,
        message: dict[str, Any],
        *,
        version: str = "1",
        key: rsa.RSAPrivateKey | None = None,
        cert_url: str | None = None,
    ) -> dict[str, Any]:
        """``message`` with SignatureVersion, SigningCertURL and a Signature made as SNS makes it."""
        signed = {**message, "SignatureVersion": version, "SigningCertURL": cert_url or self.cert_url}
        # SignatureVersion 1 is SHA1 because that is what SNS uses for it, not by choice.
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303
        signature = (key or self.key).sign(canonical_string(signed), padding.PKCS1v15(), algorithm)
        signed["Signature"] = base64.b64encode(signature).decode()
        return signed


@pytest.fixture
def sns_signer(settings) -> Iterator[SnsSigner]:
    key, pem = make_key_and_certificate()
    routes = {
        CERT_PATH: Route(body=pem, content_type="application/x-x509-ca-cert"),
        SUBSCRIBE_PATH: Route(body=b"<ConfirmSubscriptionResponse/>", content_type="text/xml"),
    }
    with local_server(routes) as server:
        settings.SNS_TRUSTED_ORIGIN_PATTERN = re.escape(f"http://127.0.0.1:{server.port}")
        yield SnsSigner(server=server, key=key)


def sns_notification(ses_event: dict[str, Any] | str, *, subject: str | None = None) -> dict[str, Any]:
    """An unsigned SNS Notification carrying ``ses_event`` (a dict, or SNS's raw Message string)."""
    message: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": TOPIC_ARN,
        "Message": ses_event if isinstance(ses_event, str) else json.dumps(ses_event),
        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
    }
    if subject is not None:
        message["Subject"] = subject
    return message


def sns_headers(message: dict[str, Any]) -> dict[str, str]:
    return {
        "HTTP_X_AMZ_SNS_MESSAGE_TYPE": str(message.get("Type", "")),
        "HTTP_X_AMZ_SNS_MESSAGE_ID": str(message.get("MessageId", "")),
        "HTTP_X_AMZ_SNS_TOPIC_ARN": TOPIC_ARN,
    }
