"""Email: the sender, the ESP, and each ESP's keys, named as Anymail's settings so its documentation applies.

Which keys an ESP requires is stated once, in ``config/esp.py``; the README takes "required" from there.
"""

from __future__ import annotations

from config.esp import ESPS
from config.variables.spec import SENDERS, Computed, Group, Kind, Reader, Variable

_WEBHOOKS = (Reader.WEB,)

EMAIL = (
    Variable(
        name="DEFAULT_FROM_EMAIL",
        kind=Kind.TEXT,
        default="Trending Papers <papers@localhost>",
        meaning="Sender of every email, as `Name <address>`; the ESP must have its domain verified. Its domain is "
        "also the default for UNSUBSCRIBE_MAILTO.",
        readers=SENDERS,
        group=Group.EMAIL,
        example="Trending Papers <papers@example.org>",
        fill_in=True,
        production="Trending Papers <papers@example.org>",
    ),
    Variable(
        name="UNSUBSCRIBE_MAILTO",
        kind=Kind.TEXT,
        default="",
        default_text="`unsubscribe@` the domain of DEFAULT_FROM_EMAIL",
        meaning="Address in the mailto half of every newsletter's List-Unsubscribe header; the subject carries the "
        "reader's unsubscribe token.",
        readers=SENDERS,
        group=Group.EMAIL,
        example="unsubscribe@example.org",
    ),
    Variable(
        name="ESP",
        kind=Kind.TEXT,
        default="",
        meaning="The Anymail email service provider that sends every email, one of "
        + ", ".join(f"`{name}`" for name in sorted(ESPS))
        + "; its keys are listed below. Unset: emails are written as .eml files to EMAIL_FILE_PATH and reach nobody.",
        readers=SENDERS,
        group=Group.EMAIL,
        example="amazon_ses",
        fill_in=True,
        production="amazon_ses",
    ),
    Variable(
        name="EMAIL_BACKEND",
        kind=Kind.TEXT,
        default=Computed("the one ESP chooses"),
        meaning="A Django email backend that overrides ESP's, e.g. `django.core.mail.backends.smtp.EmailBackend`; "
        "the tests use Anymail's test backend.",
        readers=SENDERS,
        group=Group.EMAIL,
    ),
    Variable(
        name="EMAIL_FILE_PATH",
        kind=Kind.TEXT,
        default=Computed("`$VAR_DIR/outbox`"),
        meaning="Folder the embedded outbox (ESP unset) writes one .eml file per email to.",
        readers=SENDERS,
        group=Group.EMAIL,
    ),
    Variable(
        name="WEBHOOK_SECRET",
        kind=Kind.TEXT,
        default="",
        meaning="HTTP basic auth `user:password` the ESP's tracking and inbound webhooks must present (put it in "
        "the webhook URL: `https://user:password@host/anymail/...`). Unset, every webhook request is refused.",
        readers=(Reader.WEB,),
        group=Group.EMAIL,
        example="webhook-user:long-random-password",
        production="anymail:CHANGE-ME-long-random-password",
    ),
    Variable(
        name="SNS_TRUSTED_ORIGIN_PATTERN",
        kind=Kind.TEXT,
        default=r"https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?",
        meaning="Regular expression the origin (`scheme://host[:port]`) of an Amazon SNS message's SigningCertURL "
        "and SubscribeURL must match in full before it is fetched; SES notifications whose signature does not "
        "verify against that certificate are refused. Change it only to test against a stand-in.",
        readers=(Reader.WEB,),
        group=Group.EMAIL,
    ),
    Variable(
        name="DNS_NAMESERVERS",
        kind=Kind.LIST,
        default=(),
        default_text="the system's resolvers",
        meaning="Nameservers `manage.py doctor` asks for the sender domain's SPF, DKIM and DMARC records: `IP`, "
        "`IP:PORT` or `[IPv6]:PORT`, comma-separated.",
        readers=(Reader.COMMANDS,),
        group=Group.EMAIL,
        example="1.1.1.1,8.8.8.8",
    ),
    Variable(
        name="ESP_RATE_LIMIT",
        kind=Kind.FLOAT,
        default=0.0,
        meaning="Most edition messages per second handed to the ESP, by all workers together: one token bucket in "
        "Redis shared by every worker process, one message per 1/rate seconds, no burst (0.5 = one every 2 s; "
        "without REDIS_URL each process has its own bucket); 0 = no limit. Above 1, no second holds more than its "
        "whole part (each R messages take at least 1.02 s, so about 98% of R is sent): set it to the ESP's hard "
        "per-second cap.",
        readers=(Reader.WORKER, Reader.COMMANDS),
        group=Group.EMAIL,
        minimum=0.0,
    ),
    Variable(
        name="ESP_TIMEOUT",
        kind=Kind.FLOAT,
        default=20.0,
        meaning="Seconds allowed to connect to the ESP, and again for each read of its answer (boto's own retries "
        "are off: the sender owns the retry policy). SEND_STALL_SECONDS must exceed twice this.",
        readers=SENDERS,
        group=Group.EMAIL,
        minimum=0.5,
    ),
)


def _key(
    name: str,
    esp: str,
    meaning: str,
    *,
    readers: tuple[Reader, ...] = SENDERS,
    example: str | None = None,
    fill_in: bool = False,
    production: str | None = None,
    anymail_default: str = "",
) -> Variable:
    spec = ESPS[esp]
    # Left unset, Anymail uses its own default (for an API URL, the one config/esp.py records for doctor).
    if name == spec.api_url_setting:
        anymail_default = spec.default_api_url
    default_text = f"Anymail's: `{anymail_default}`" if anymail_default else ""
    return Variable(
        name=name,
        kind=Kind.TEXT,
        default="",
        default_text=default_text,
        meaning=meaning,
        readers=readers,
        group=Group.ESP_KEYS,
        example=example,
        fill_in=fill_in,
        production=production,
        esp=esp,
    )


ESP_KEYS = (
    _key(
        "AWS_REGION",
        "amazon_ses",
        "AWS region of the SES account.",
        example="eu-west-1",
        fill_in=True,
        production="eu-west-1",
    ),
    _key(
        "AWS_DEFAULT_REGION",
        "amazon_ses",
        "boto3's own name for the region: read when AWS_REGION is unset.",
        example="eu-west-1",
    ),
    _key(
        "AWS_ACCESS_KEY_ID",
        "amazon_ses",
        "Access key of an IAM user allowed ses:SendRawEmail, ses:GetSendQuota and (for doctor's DKIM check) "
        "ses:GetIdentityDkimAttributes.",
        fill_in=True,
        production="AKIA-CHANGE-ME",
    ),
    _key("AWS_SECRET_ACCESS_KEY", "amazon_ses", "That access key's secret.", fill_in=True, production="CHANGE-ME"),
    _key(
        "AMAZON_SES_ENDPOINT_URL",
        "amazon_ses",
        "Sends to an SES emulator such as moto (tests, CI) instead of "
        "the region's endpoint; leave unset in production.",
        example="http://127.0.0.1:5000",
    ),
    _key(
        "AMAZON_SES_CONFIGURATION_SET_NAME",
        "amazon_ses",
        "SES configuration set applied to every message (its event destination feeds the tracking webhook).",
        example="newsletter",
    ),
    _key("BREVO_API_KEY", "brevo", "Brevo API v3 key."),
    _key("BREVO_API_URL", "brevo", "Brevo API base URL."),
    _key("MAILERSEND_API_TOKEN", "mailersend", "MailerSend API token."),
    _key("MAILERSEND_API_URL", "mailersend", "MailerSend API base URL."),
    _key(
        "MAILERSEND_BATCH_SEND_MODE",
        "mailersend",
        "How Anymail sends to several recipients: `use-bulk-email` or `expect-bulk-email`; unset lets Anymail choose.",
        example="use-bulk-email",
    ),
    _key(
        "MAILERSEND_SIGNING_SECRET",
        "mailersend",
        "Verifies the signature of MailerSend's tracking webhook (MailerSend > Webhooks); unset, its URL is a 404.",
        readers=_WEBHOOKS,
    ),
    _key(
        "MAILERSEND_INBOUND_SECRET",
        "mailersend",
        "Verifies the signature of MailerSend's inbound route (unsubscribe by mail); unset, its URL is a 404.",
        readers=_WEBHOOKS,
    ),
    _key("MAILGUN_API_KEY", "mailgun", "Mailgun private API key."),
    _key(
        "MAILGUN_SENDER_DOMAIN",
        "mailgun",
        "Sending domain, when it is not DEFAULT_FROM_EMAIL's.",
        example="mg.example.org",
    ),
    _key("MAILGUN_API_URL", "mailgun", "Mailgun API base URL; the EU region is `https://api.eu.mailgun.net/v3`."),
    _key(
        "MAILGUN_WEBHOOK_SIGNING_KEY",
        "mailgun",
        "Verifies the signature of Mailgun's tracking webhooks and inbound route (Anymail falls back to the API key).",
        readers=_WEBHOOKS,
    ),
    _key("MAILJET_API_KEY", "mailjet", "Mailjet API key."),
    _key("MAILJET_SECRET_KEY", "mailjet", "Mailjet secret key."),
    _key("MAILJET_API_URL", "mailjet", "Mailjet API base URL."),
    _key("MANDRILL_API_KEY", "mandrill", "Mandrill API key."),
    _key(
        "MANDRILL_WEBHOOK_KEY",
        "mandrill",
        "Verifies the signature of Mandrill's webhooks (tracking and inbound share one URL); unset, it is a 404.",
        readers=_WEBHOOKS,
    ),
    _key(
        "MANDRILL_WEBHOOK_URL",
        "mandrill",
        "The webhook's URL exactly as Mandrill calls it (part of its signature), if a proxy changes what Django sees.",
        readers=_WEBHOOKS,
    ),
    _key("POSTAL_API_KEY", "postal", "Postal server API key."),
    _key("POSTAL_API_URL", "postal", "Your Postal server's URL.", example="https://postal.example.org"),
    _key(
        "POSTAL_WEBHOOK_KEY",
        "postal",
        "Public key that verifies Postal's tracking and inbound webhooks; unset, their URLs are a 404.",
        readers=_WEBHOOKS,
    ),
    _key("POSTMARK_SERVER_TOKEN", "postmark", "Postmark server API token."),
    _key("POSTMARK_API_URL", "postmark", "Postmark API base URL."),
    _key("RESEND_API_KEY", "resend", "Resend API key (full access, so doctor's domain check works)."),
    _key("RESEND_API_URL", "resend", "Resend API base URL."),
    _key(
        "RESEND_SIGNING_SECRET",
        "resend",
        "Verifies the signature of Resend's tracking webhooks (needs the `svix` package, not installed by default: "
        "set, without it, the webhook is a 404).",
        readers=_WEBHOOKS,
    ),
    _key("SCALEWAY_SECRET_KEY", "scaleway", "Scaleway API secret key."),
    _key("SCALEWAY_PROJECT_ID", "scaleway", "Scaleway project the emails are sent from."),
    _key("SCALEWAY_REGION", "scaleway", "Scaleway region.", anymail_default="fr-par"),
    _key(
        "SENDGRID_API_KEY",
        "sendgrid",
        "SendGrid API key (Anymail 13 no longer officially supports SendGrid; it still works).",
    ),
    _key("SENDGRID_API_URL", "sendgrid", "SendGrid API base URL."),
    _key("SPARKPOST_API_KEY", "sparkpost", "SparkPost API key."),
    _key(
        "SPARKPOST_API_URL",
        "sparkpost",
        "SparkPost API base URL; EU accounts use `https://api.eu.sparkpost.com/api/v1/`.",
    ),
    _key("SPARKPOST_SUBACCOUNT", "sparkpost", "SparkPost subaccount id to send as."),
    _key("UNISENDER_GO_API_KEY", "unisender_go", "Unisender Go API key."),
    _key(
        "UNISENDER_GO_API_URL",
        "unisender_go",
        "The API URL of your Unisender Go account's data centre.",
        example="https://go1.unisender.ru/ru/transactional/api/v1/",
    ),
)
