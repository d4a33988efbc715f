"""Inbound-mail webhook posts as each ESP makes them, authenticated the way each ESP authenticates.

Each builder takes the raw MIME of a received mail and returns what to post (URL, body, content type, headers) and
the Anymail settings that ESP's view needs. ``authenticated=False`` leaves out the basic auth and the ESP's own
signature, as a stranger's post would. The payload shapes follow each ESP's inbound documentation, reduced to the
fields Anymail reads; they are written here, not copied from anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.subscribers.webhook_support import SECRET, SnsSigner, basic_auth, sns_headers, sns_notification

MAILGUN_SIGNING_KEY = "mailgun-webhook-signing-key"
MAILERSEND_INBOUND_SECRET = "mailersend-inbound-secret"
MANDRILL_WEBHOOK_KEY = "mandrill-webhook-key"
READER = "reader@example.org"
MAILTO = "unsubscribe@example.com"


@dataclass
class InboundPost:
    url: str
    body: bytes | str | dict[str, str]
    content_type: str | None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Esp:
    name: str
    settings: dict[str, Any]
    build: Callable[..., InboundPost]  # (mime, authenticated[, signer]) -> the post
    needs_sns: bool = False


def unsubscribe_mail(subject: str) -> str:
    """A mail as a reader's client sends it from the List-Unsubscribe mailto link."""
    message = EmailMessage()
    message["From"] = f"A Reader <{READER}>"
    message["To"] = MAILTO
    message["Subject"] = subject
    message["Date"] = formatdate()
    message["Message-ID"] = make_msgid(domain="example.org")
    message.set_content("Sent from my phone.\n")
    return message.as_string()


def _subject(mime: str) -> str:
    from email import message_from_string
    from email.policy import default

    return str(message_from_string(mime, policy=default)["Subject"])


def _json(url: str, payload: Any, headers: dict[str, str]) -> InboundPost:
    return InboundPost(url=url, body=json.dumps(payload), content_type="application/json", headers=headers)


def postmark(mime: str, authenticated: bool) -> InboundPost:
    payload = {
        "FromFull": {"Email": READER, "Name": "A Reader"},
        "ToFull": [{"Email": MAILTO, "Name": ""}],
        "Subject": _subject(mime),
        "MessageID": str(uuid.uuid4()),
        "OriginalRecipient": MAILTO,
        "TextBody": "Sent from my phone.",
        "Headers": [{"Name": "Return-Path", "Value": f"<{READER}>"}],
        "Attachments": [],
    }
    return _json("/anymail/postmark/inbound/", payload, basic_auth() if authenticated else {})


def mailgun(mime: str, authenticated: bool) -> InboundPost:
    timestamp, token = str(int(time.time())), uuid.uuid4().hex
    signature = hmac.new(MAILGUN_SIGNING_KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    fields = {"body-mime": mime, "recipient": MAILTO, "sender": READER, "timestamp": timestamp, "token": token}
    if authenticated:
        fields["signature"] = signature
    # The route's forward() to .../inbound_mime/ posts the raw MIME as multipart form data.
    return InboundPost("/anymail/mailgun/inbound_mime/", fields, None, basic_auth() if authenticated else {})


def sendgrid(mime: str, authenticated: bool) -> InboundPost:
    # Inbound Parse with "POST the raw, full MIME message" checked.
    fields = {"email": mime, "envelope": json.dumps({"to": [MAILTO], "from": READER}), "spam_score": "0.1"}
    return InboundPost("/anymail/sendgrid/inbound/", fields, None, basic_auth() if authenticated else {})


def brevo(mime: str, authenticated: bool) -> InboundPost:
    item = {
        "Uuid": [str(uuid.uuid4())],
        "Headers": {"From": f"A Reader <{READER}>", "To": MAILTO, "Subject": _subject(mime)},
        "RawTextBody": "Sent from my phone.",
        "Attachments": [],
    }
    return _json("/anymail/brevo/inbound/", {"items": [item]}, basic_auth() if authenticated else {})


def mailjet(mime: str, authenticated: bool) -> InboundPost:
    payload = {
        "Sender": READER,
        "Recipient": MAILTO,
        "Headers": {"From": f"A Reader <{READER}>", "To": MAILTO, "Subject": _subject(mime)},
        "Text-part": "Sent from my phone.",
        "Parts": [],
    }
    return _json("/anymail/mailjet/inbound/", payload, basic_auth() if authenticated else {})


def sparkpost(mime: str, authenticated: bool) -> InboundPost:
    relay = {
        "content": {"email_rfc822": mime, "email_rfc822_is_base64": False},
        "msg_from": READER,
        "rcpt_to": MAILTO,
        "protocol": "smtp",
    }
    return _json(
        "/anymail/sparkpost/inbound/", [{"msys": {"relay_message": relay}}], basic_auth() if authenticated else {}
    )


_POSTAL_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
# Postal shows its signing public key as one line of base64 (the PEM body without its armour).
POSTAL_WEBHOOK_KEY = base64.b64encode(
    _POSTAL_KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()


def postal(mime: str, authenticated: bool) -> InboundPost:
    payload = {
        "id": 1234,
        "rcpt_to": MAILTO,
        "mail_from": READER,
        "message": base64.b64encode(mime.encode()).decode(),
        "base64": True,
        "size": len(mime),
    }
    body = json.dumps(payload)
    headers = {}
    if authenticated:
        # Postal signs the body with RSA and SHA1 (its protocol, not our choice).
        signature = _POSTAL_KEY.sign(body.encode(), padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
        headers = {**basic_auth(), "HTTP_X_POSTAL_SIGNATURE": base64.b64encode(signature).decode()}
    return InboundPost("/anymail/postal/inbound/", body, "application/json", headers)


def mailersend(mime: str, authenticated: bool) -> InboundPost:
    payload = {
        "type": "inbound.message",
        "data": {
            "id": uuid.uuid4().hex,
            "created_at": "2025-03-14T07:05:00.000000Z",
            "raw": mime,
            "sender": {"email": READER},
            "recipients": {"rcptTo": [{"email": MAILTO}]},
        },
    }
    body = json.dumps(payload)
    headers = {}
    if authenticated:
        signature = hmac.new(MAILERSEND_INBOUND_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
        headers = {**basic_auth(), "HTTP_SIGNATURE": signature}
    return InboundPost("/anymail/mailersend/inbound/", body, "application/json", headers)


def mandrill(mime: str, authenticated: bool) -> InboundPost:
    events = json.dumps([{"event": "inbound", "ts": int(time.time()), "msg": {"raw_msg": mime, "email": MAILTO}}])
    params = {"mandrill_events": events}
    headers = {}
    if authenticated:
        # Mandrill signs the webhook URL as configured (basic auth credentials included) plus the sorted params.
        url = f"http://{SECRET}@testserver/anymail/mandrill/"
        signed = url + "".join(key + params[key] for key in sorted(params))
        digest = hmac.new(MANDRILL_WEBHOOK_KEY.encode(), signed.encode(), hashlib.sha1).digest()
        headers = {**basic_auth(), "HTTP_X_MANDRILL_SIGNATURE": base64.b64encode(digest).decode()}
    return InboundPost("/anymail/mandrill/", urlencode(params), "application/x-www-form-urlencoded", headers)


def amazon_ses(mime: str, authenticated: bool, signer: SnsSigner | None = None) -> InboundPost:
    """SES receipt rule with an SNS action (Base64 encoding) -> SNS topic -> HTTPS subscription."""
    ses_event = {
        "notificationType": "Received",
        "mail": {
            "timestamp": "2025-03-14T07:05:00.000Z",
            "source": READER,
            "messageId": uuid.uuid4().hex,
            "destination": [MAILTO],
        },
        "receipt": {
            "recipients": [MAILTO],
            "spamVerdict": {"status": "PASS"},
            "action": {"type": "SNS", "topicArn": "arn:aws:sns:us-east-1:111122223333:inbound", "encoding": "BASE64"},
        },
        "content": base64.b64encode(mime.encode()).decode(),
    }
    message = sns_notification(ses_event, subject="Amazon SES Email Receipt Notification")
    headers = sns_headers(message)
    if authenticated:
        assert signer is not None
        message = signer.sign(message)
        headers.update(basic_auth())
    return InboundPost("/anymail/amazon_ses/inbound/", json.dumps(message), "text/plain; charset=UTF-8", headers)


ESPS: dict[str, Esp] = {
    "amazon_ses": Esp("amazon_ses", {}, amazon_ses, needs_sns=True),
    "brevo": Esp("brevo", {"BREVO_API_KEY": "brevo-key"}, brevo),
    "mailersend": Esp("mailersend", {"MAILERSEND_INBOUND_SECRET": MAILERSEND_INBOUND_SECRET}, mailersend),
    "mailgun": Esp("mailgun", {"MAILGUN_API_KEY": "key", "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_SIGNING_KEY}, mailgun),
    "mailjet": Esp("mailjet", {}, mailjet),
    "mandrill": Esp("mandrill", {"MANDRILL_WEBHOOK_KEY": MANDRILL_WEBHOOK_KEY}, mandrill),
    "postal": Esp("postal", {"POSTAL_WEBHOOK_KEY": POSTAL_WEBHOOK_KEY}, postal),
    "postmark": Esp("postmark", {}, postmark),
    "sendgrid": Esp("sendgrid", {}, sendgrid),
    "sparkpost": Esp("sparkpost", {}, sparkpost),
}
