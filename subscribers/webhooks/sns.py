"""Amazon SNS message signatures, checked before any SES notification (tracking or inbound) is believed.

HTTP basic auth alone proves only that the caller knows ``WEBHOOK_SECRET``; SNS also signs every message with a key
whose certificate it serves from ``https://sns.<region>.amazonaws.com``. A message is accepted only when:

- its ``SigningCertURL`` has an origin matching ``SNS_TRUSTED_ORIGIN_PATTERN`` in full (so a forger cannot point us
  at a certificate of their own) and names a ``.pem`` file;
- that certificate is within its validity period;
- the signature (``SignatureVersion`` 1: RSA with SHA1, 2: RSA with SHA256) verifies over the canonical string of
  the fields SNS signs for the message's ``Type``.

Installed Anymail (13.x) checks only the SNS headers (its source says "Future: Verify SNS message signature"), so
this is done here. Certificates are cached in the Django cache (Redis in production) for a day, so one notification
burst costs one fetch per region, not one per message. A ``SubscriptionConfirmation`` is confirmed by fetching its
``SubscribeURL``, from a trusted origin only, after its signature and the basic auth both passed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from anymail.exceptions import AnymailWebhookValidationFailure
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

# The fields SNS signs, in the (byte-sorted) order of the canonical string; Subject only when the message has one.
SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
CERT_CACHE_SECONDS = 24 * 3600
_CERT_MAX_BYTES = 64 * 1024  # SNS certificates are about 2 KB; refuse to buffer anything much bigger
_FETCH_TIMEOUT = 10.0


class SnsVerificationError(AnymailWebhookValidationFailure):
    """The message is not one Amazon SNS signed for us: refused with a 400, nothing is recorded."""


class SnsUnreachable(Exception):
    """A trusted SNS URL (the certificate, a SubscribeURL) did not answer now: a 503, so SNS retries later."""


def trusted_url(url: str) -> bool:
    """True for an http(s) URL whose ``scheme://host[:port]`` matches ``SNS_TRUSTED_ORIGIN_PATTERN`` in full."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    # No user:password@ part: "https://sns.us-east-1.amazonaws.com@evil.example/" must not pass on its prefix.
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return False
    return re.fullmatch(settings.SNS_TRUSTED_ORIGIN_PATTERN, f"{parts.scheme}://{parts.netloc.lower()}") is not None


def canonical_string(message: Mapping[str, Any]) -> bytes:
    """The bytes SNS signed: ``Name\\nvalue\\n`` for each signed field present, in order."""
    fields = SIGNED_FIELDS.get(str(message.get("Type")))
    if fields is None:
        raise SnsVerificationError(f"unknown SNS message Type {str(message.get('Type'))[:40]!r}")
    lines = []
    for name in fields:
        if name not in message:
            if name == "Subject":
                continue
            raise SnsVerificationError(f"SNS {message['Type']} without {name}")
        lines.append(f"{name}\n{message[name]}\n")
    return "".join(lines).encode("utf-8")


def _cache_key(url: str) -> str:
    return f"sns-cert:{hashlib.sha256(url.encode()).hexdigest()}"


def _fetch_certificate(url: str) -> bytes:
    try:
        # No redirects: a trusted host must not be able to hand us on to an untrusted one.
        with requests.get(url, timeout=_FETCH_TIMEOUT, allow_redirects=False, stream=True) as response:
            if response.status_code != 200:
                raise SnsUnreachable(f"HTTP {response.status_code} from {url}")
            body = response.raw.read(_CERT_MAX_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise SnsUnreachable(f"{type(exc).__name__} fetching {url}") from exc
    if len(body) > _CERT_MAX_BYTES:
        raise SnsVerificationError(f"SigningCertURL {url} serves more than {_CERT_MAX_BYTES} bytes")
    return body


def signing_certificate(url: str) -> x509.Certificate:
    """The certificate at a trusted ``SigningCertURL``, from the cache or fetched once and cached."""
    if not trusted_url(url) or not urlsplit(url).path.endswith(".pem"):
        raise SnsVerificationError(f"SigningCertURL {url[:200]!r} is not a trusted SNS certificate URL")
    key = _cache_key(url)
    pem = cache.get(key)
    if pem is None:
        pem = _fetch_certificate(url)
        try:
            x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            raise SnsVerificationError(f"SigningCertURL {url} does not serve a PEM certificate") from exc
        cache.set(key, pem, CERT_CACHE_SECONDS)
        logger.info("SNS signing certificate fetched from %s and cached", url)
    return x509.load_pem_x509_certificate(pem)


def verify_message(message: Mapping[str, Any]) -> None:
    """Raise ``SnsVerificationError`` unless Amazon SNS signed ``message`` (``SnsUnreachable`` when the
    certificate cannot be fetched now)."""
    version = str(message.get("SignatureVersion", ""))
    algorithm = _HASHES.get(version)
    if algorithm is None:
        raise SnsVerificationError(f"unsigned SNS message or unknown SignatureVersion {version[:10]!r}")
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SnsVerificationError("SNS Signature is not base64") from exc
    if not signature:
        raise SnsVerificationError("unsigned SNS message")
    signed = canonical_string(message)
    certificate = signing_certificate(str(message.get("SigningCertURL", "")))
    now = datetime.now(UTC)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise SnsVerificationError("the SNS signing certificate is outside its validity period")
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise SnsVerificationError("the SNS signing certificate does not hold an RSA key")
    try:
        public_key.verify(signature, signed, padding.PKCS1v15(), algorithm())
    except InvalidSignature as exc:
        raise SnsVerificationError("SNS signature does not verify") from exc


def confirm_subscription(message: Mapping[str, Any]) -> None:
    """Confirm a verified ``SubscriptionConfirmation`` by fetching its ``SubscribeURL``, from a trusted origin only."""
    url = str(message.get("SubscribeURL", ""))
    if not trusted_url(url):
        raise SnsVerificationError(f"SubscribeURL {url[:200]!r} is not on a trusted SNS host")
    try:
        response = requests.get(url, timeout=_FETCH_TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        raise SnsUnreachable(f"{type(exc).__name__} confirming at {url}") from exc
    if response.status_code != 200:
        raise SnsUnreachable(f"HTTP {response.status_code} confirming at {url}")
    logger.info("SNS subscription to %s confirmed", str(message.get("TopicArn", ""))[:200])
