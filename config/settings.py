"""The one settings module, driven by environment variables read through their registry (config/variables/).

With no variables set the service runs embedded: SQLite and a file-system Celery broker under ``var/``, emails
written as ``.eml`` files to ``var/outbox/``. ``DATABASE_URL``, ``REDIS_URL`` and ``ESP`` switch to PostgreSQL,
Redis and a real email service provider.
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from config.esp import email_config
from config.logs import logging_config
from config.routing import DEFAULT_QUEUE, QUEUES
from config.variables import read_bool, read_float, read_int, read_list, read_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(read_str("VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = read_bool("DEBUG")
# The development key only works with DEBUG on; production must bring its own.
SECRET_KEY = read_str("SECRET_KEY", default="dev-only-insecure-key-change-me" if DEBUG else None)
SITE_URL = read_str("SITE_URL", default=f"http://127.0.0.1:{read_int('PORT')}").rstrip("/")
if not SITE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"SITE_URL={SITE_URL!r} must be an absolute http(s) URL.")
_site = urlsplit(SITE_URL)
# In production the public host is the one in SITE_URL unless told otherwise (add the load balancer's probe host).
ALLOWED_HOSTS = read_list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"] if DEBUG else [_site.hostname or ""]
)
CSRF_TRUSTED_ORIGINS = read_list("CSRF_TRUSTED_ORIGINS", default=[] if DEBUG else [f"{_site.scheme}://{_site.netloc}"])

# --- Production hardening: on by default whenever DEBUG is off; each can be relaxed by its variable -------------
# Behind a TLS-terminating proxy (nginx, a cloud load balancer) the request arrives as plain HTTP; trust the proxy's
# X-Forwarded-Proto only when told there is one, or any client could claim to be on HTTPS.
if read_bool("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = read_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers probe over plain HTTP on the private network; a redirect would read as "unhealthy".
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = read_bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = read_int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = read_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
# The preload directive alone lists nobody: a domain is preloaded only once its owner submits it to the list.
SECURE_HSTS_PRELOAD = read_bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Index operator classes (trigram indexes for admin search) and the pg_trgm migration; inert on SQLite.
    "django.contrib.postgres",
    "anymail",
    "config",  # ops: /healthz, the doctor command, the beat heartbeat task
    "digest",
    "subscribers",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads a parameter or the session cookie: a NUL in one is a 400 here, not a 500 in PostgreSQL.
    "config.middleware.RejectNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context.site",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        read_str("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=read_int("DATABASE_CONN_MAX_AGE"),
        conn_health_checks=True,  # a kept connection is pinged before a request or task reuses it
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one SQLite file: wait for locks instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = read_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # A file cache is shared by every local process, so rate limits hold across web workers too.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where collectstatic gathers files for WhiteNoise to serve (with DEBUG off, names carry a content hash).
STATIC_ROOT = Path(read_str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Email -------------------------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = read_str("DEFAULT_FROM_EMAIL")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_FILE_PATH = read_str("EMAIL_FILE_PATH", default=str(VAR_DIR / "outbox"))
ESP = read_str("ESP").strip().lower()
# config/esp.py maps ESP and its keys onto Anymail's settings and fails here, at start-up, on a gap.
_email = email_config(ESP, os.environ)
EMAIL_BACKEND = _email.backend
ANYMAIL: dict[str, object] = dict(_email.anymail)
# An explicit backend wins (tests use Anymail's test backend; operators may use SMTP).
EMAIL_BACKEND = read_str("EMAIL_BACKEND", default=EMAIL_BACKEND)
WEBHOOK_SECRET = read_str("WEBHOOK_SECRET")
# Tracking webhooks take HTTP basic auth "user:password". Without a configured secret they refuse every request
# (a random secret nobody knows) rather than trust anyone who finds the URL.
ANYMAIL["WEBHOOK_SECRET"] = WEBHOOK_SECRET or f"unset:{secrets.token_urlsafe(24)}"
# Amazon SNS signs every message with a certificate it serves from https://sns.<region>.amazonaws.com; only URLs
# whose origin (scheme://host[:port]) matches this in full are fetched, for the certificate or a SubscribeURL.
SNS_TRUSTED_ORIGIN_PATTERN = read_str("SNS_TRUSTED_ORIGIN_PATTERN")
try:
    re.compile(SNS_TRUSTED_ORIGIN_PATTERN)
except re.error as _exc:
    raise ImproperlyConfigured(f"SNS_TRUSTED_ORIGIN_PATTERN={SNS_TRUSTED_ORIGIN_PATTERN!r}: {_exc}") from None
# Where `manage.py doctor` looks up SPF, DKIM and DMARC: "IP" or "IP:PORT" (IPv6 as "[::1]:53"), comma-separated;
# empty = the system's resolvers (/etc/resolv.conf).
DNS_NAMESERVERS = read_list("DNS_NAMESERVERS")
for _ns in DNS_NAMESERVERS:
    if not re.fullmatch(r"[0-9.]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?|[0-9A-Fa-f]*:[0-9A-Fa-f:.]+", _ns):
        raise ImproperlyConfigured(f"DNS_NAMESERVERS: {_ns!r} is not an IP address, IP:PORT or [IPv6]:PORT.")
ESP_RATE_LIMIT = read_float("ESP_RATE_LIMIT")  # messages per second across workers; 0 = none

# --- Newsletter --------------------------------------------------------------------------------------------
NEWSLETTER_NAME = read_str("NEWSLETTER_NAME")
NEWSLETTER_SEND_HOUR = read_int("SEND_HOUR")
NEWSLETTER_WINDOW_DAYS = read_int("TRENDING_WINDOW_DAYS")
NEWSLETTER_TOP_N = read_int("TRENDING_TOP_N")
NEWSLETTER_APPROVAL_REQUIRED = read_bool("APPROVAL_REQUIRED")
# Weekends repeat Friday's list: a daily edition with no page ingested since the previous one is skipped.
NEWSLETTER_SKIP_STALE_DAILY = read_bool("SKIP_STALE_DAILY")
NEWSLETTER_SEND_CHUNK_SIZE = read_int("SEND_CHUNK_SIZE")
# At-least-once (True) re-sends a delivery whose fate is unknown after a crash; at-most-once (False) does not.
NEWSLETTER_RESEND_AMBIGUOUS = read_bool("RESEND_AMBIGUOUS")
# Sending (subscribers/delivery/). A beat tick runs every SEND_TICK_SECONDS; a subscriber is due from their local
# SEND_HOUR for SEND_CATCHUP_HOURS (so a tick missed while beat was down is made up, but never in the evening).
NEWSLETTER_TICK_SECONDS = read_int("SEND_TICK_SECONDS")
NEWSLETTER_SEND_CATCHUP_HOURS = read_int("SEND_CATCHUP_HOURS")
NEWSLETTER_WEEKLY_WEEKDAY = read_int("WEEKLY_WEEKDAY")  # Monday = 0
# The sweep runs every SEND_SWEEP_SECONDS and treats a claim whose send journal has been silent for
# SEND_STALL_SECONDS as dead. That must outlast the slowest single ESP call, or a live send would be re-sent.
NEWSLETTER_SWEEP_SECONDS = read_int("SEND_SWEEP_SECONDS")
NEWSLETTER_STALL_SECONDS = read_int("SEND_STALL_SECONDS")
ESP_TIMEOUT = read_float("ESP_TIMEOUT")  # seconds, for connecting and for each read
if NEWSLETTER_STALL_SECONDS <= 2 * ESP_TIMEOUT:
    raise ImproperlyConfigured(
        f"SEND_STALL_SECONDS={NEWSLETTER_STALL_SECONDS} must exceed twice ESP_TIMEOUT={ESP_TIMEOUT:g} (connect + read)."
    )
NEWSLETTER_SEND_MAX_RETRIES = read_int("SEND_MAX_RETRIES")
NEWSLETTER_SEND_RETRY_BACKOFF = read_float("SEND_RETRY_BACKOFF")  # seconds, doubled per retry
ANYMAIL["REQUESTS_TIMEOUT"] = (ESP_TIMEOUT, ESP_TIMEOUT)
if isinstance(ANYMAIL.get("AMAZON_SES_CLIENT_PARAMS"), dict):
    # The sender owns the retry policy (backoff with jitter, the ambiguous window): boto's own silent retries
    # would re-send a message whose answer was merely slow.
    ANYMAIL["AMAZON_SES_CLIENT_PARAMS"]["config"] = {  # type: ignore[index]
        "connect_timeout": ESP_TIMEOUT,
        "read_timeout": ESP_TIMEOUT,
        "retries": {"total_max_attempts": 1},
    }
# The complaint-rate brake (subscribers/brake.py): thresholds in percent, the window it judges them over.
BRAKE_COMPLAINT_WARN_PERCENT = read_float("BRAKE_COMPLAINT_WARN_PERCENT")
BRAKE_COMPLAINT_PAUSE_PERCENT = read_float("BRAKE_COMPLAINT_PAUSE_PERCENT")
BRAKE_BOUNCE_PAUSE_PERCENT = read_float("BRAKE_BOUNCE_PAUSE_PERCENT")
BRAKE_WINDOW_DELIVERIES = read_int("BRAKE_WINDOW_DELIVERIES")
BRAKE_WINDOW_DAYS = read_int("BRAKE_WINDOW_DAYS")
BRAKE_MIN_DELIVERIES = read_int("BRAKE_MIN_DELIVERIES")
INGEST_FETCH_TIMEOUT = read_float("INGEST_FETCH_TIMEOUT")
INGEST_MAX_BYTES = read_int("INGEST_MAX_BYTES")
# The title lookup for papers listed without an arXiv id (digest/enrichment.py); an empty URL turns that API off.
ARXIV_API_URL = read_str("ARXIV_API_URL")
HF_API_URL = read_str("HF_API_URL").rstrip("/")
for _api_name, _api_url in (("ARXIV_API_URL", ARXIV_API_URL), ("HF_API_URL", HF_API_URL)):
    if _api_url and not _api_url.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"{_api_name}={_api_url!r} must be an http(s) URL, or empty to turn it off.")
# Seconds between two requests to each API, held across every worker through the cache: arXiv's terms ask for 3.
ENRICH_ARXIV_INTERVAL = read_float("ENRICH_ARXIV_INTERVAL")
ENRICH_HF_INTERVAL = read_float("ENRICH_HF_INTERVAL")
ENRICH_TIMEOUT = read_float("ENRICH_TIMEOUT")
ENRICH_MISS_HOURS = read_int("ENRICH_MISS_HOURS")

# --- Subscriptions -----------------------------------------------------------------------------------------
# The mailto half of List-Unsubscribe; empty means unsubscribe@<the from-address's domain>.
UNSUBSCRIBE_MAILTO = read_str("UNSUBSCRIBE_MAILTO")
SUBSCRIBE_CONFIRM_MAX_AGE_DAYS = read_int("SUBSCRIBE_CONFIRM_MAX_AGE_DAYS")
# django-ratelimit rates ("N/s|m|h|d") for sign-up attempts, counted on the default cache (Redis in production).
SUBSCRIBE_RATE_PER_IP = read_str("SUBSCRIBE_RATE_PER_IP")
SUBSCRIBE_RATE_PER_ADDRESS = read_str("SUBSCRIBE_RATE_PER_ADDRESS")
for _rate_name, _rate in (
    ("SUBSCRIBE_RATE_PER_IP", SUBSCRIBE_RATE_PER_IP),
    ("SUBSCRIBE_RATE_PER_ADDRESS", SUBSCRIBE_RATE_PER_ADDRESS),
):
    if not re.fullmatch(r"[1-9][0-9]*/[1-9]?[0-9]*[smhd]", _rate):
        raise ImproperlyConfigured(f"{_rate_name}={_rate!r} is not a rate such as 20/h (count/[n]s|m|h|d).")
# How many reverse proxies sit in front of the web process: the client IP is taken that many hops from the
# right of X-Forwarded-For (0 = trust only REMOTE_ADDR, so a client cannot forge its IP).
NUMBER_OF_PROXIES = read_int("NUMBER_OF_PROXIES")

# --- Clicks (subscribers/clicks/) --------------------------------------------------------------------------
# Paper links in editions go through the site's own redirect, which records one click per reader, edition, paper and
# link kind. Off: emails carry the plain links and nothing is recorded.
TRACK_CLICKS = read_bool("TRACK_CLICKS")
# A click this many seconds or less after its delivery was sent is taken for a mail scanner: recorded, not counted.
SCANNER_WINDOW = read_int("SCANNER_WINDOW")
# With Redis, the redirect appends each click to a Redis stream and beat drains it into the database this often.
CLICK_DRAIN_SECONDS = read_int("CLICK_DRAIN_SECONDS")
CLICK_STREAM_KEY = read_str("CLICK_STREAM_KEY")
# Trending: weight * log2(1 + readers who clicked the paper in the last TRENDING_CLICK_DAYS days); 0 turns it off.
TRENDING_CLICK_WEIGHT = read_float("TRENDING_CLICK_WEIGHT")
TRENDING_CLICK_DAYS = read_int("TRENDING_CLICK_DAYS")

# --- Celery ------------------------------------------------------------------------------------------------
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        # Longer than the longest chunk: an unacked task is redelivered only after this.
        "visibility_timeout": read_int("CELERY_VISIBILITY_TIMEOUT"),
    }
else:
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Exchange bindings; kombu would otherwise write them to ./control in the working directory.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    # The file-system transport has no fan-out exchange for remote control.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fixup closes the database connection after every task unless this many tasks may share one; with
# connections kept (DATABASE_CONN_MAX_AGE), config.celery closes them by age, and broken ones, before each task.
CELERY_DB_REUSE_MAX = 1000 if DATABASES["default"]["CONN_MAX_AGE"] else None
CELERY_RESULT_BACKEND = None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = read_int("CELERY_TASK_SOFT_TIME_LIMIT")
CELERY_TASK_TIME_LIMIT = read_int("CELERY_TASK_TIME_LIMIT")
# Queues and routing (config/routing.py): transactional, sending and ingestion each get their own workers, so a big
# send never delays a confirmation. A worker started without -Q consumes all three (the embedded default does).
CELERY_TASK_QUEUES = QUEUES
CELERY_TASK_DEFAULT_QUEUE = DEFAULT_QUEUE
CELERY_TASK_ROUTES = ("config.routing.route_task",)
if REDIS_URL:
    # Task events for Flower (`celery -A config flower`); the file broker has no event exchange to carry them.
    # Workers' events are enough for Flower; a "task-sent" event from the web would cost every sign-up a second
    # publish to Redis.
    CELERY_WORKER_SEND_TASK_EVENTS = True
# Django's LOGGING (JSON in production) formats worker logs too, instead of Celery's own plain format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Beat schedules only while it holds a Redis lock (config/beat.py): a second beat stands by instead of doubling.
CELERY_BEAT_SCHEDULER = "config.beat:GuardedScheduler"
BEAT_LOCK_KEY = read_str("BEAT_LOCK_KEY")
BEAT_LOCK_TTL = read_int("BEAT_LOCK_TTL")
BEAT_HEARTBEAT_SECONDS = read_int("BEAT_HEARTBEAT_SECONDS")
# /healthz calls beat stale past this; the scheduler ticks at least every BEAT_LOCK_TTL / 3 seconds.
BEAT_STALE_SECONDS = read_int("BEAT_STALE_SECONDS")
EDITION_STUCK_MINUTES = read_int("EDITION_STUCK_MINUTES")
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "ops-heartbeat": {"task": "config.tasks.heartbeat", "schedule": float(BEAT_HEARTBEAT_SECONDS)},
    "newsletter-tick": {
        "task": "subscribers.tasks.sending.newsletter_tick",
        "schedule": timedelta(seconds=NEWSLETTER_TICK_SECONDS),
    },
    "deliveries-sweep": {
        "task": "subscribers.tasks.sending.sweep_deliveries",
        "schedule": timedelta(seconds=NEWSLETTER_SWEEP_SECONDS),
    },
    "clicks-drain": {
        "task": "subscribers.tasks.clicks.drain_clicks",
        "schedule": timedelta(seconds=CLICK_DRAIN_SECONDS),
    },
    # Merges the rows the delivery and subscriber count triggers append (subscribers/counts.py).
    "counts-fold": {"task": "subscribers.tasks.counts.fold_counts", "schedule": timedelta(minutes=1)},
    # The paper representation behind "For you": a no-op on nights when no paper was added.
    "fit-representation": {"task": "digest.tasks.fit_representation", "schedule": crontab(hour=2, minute=17)},
    "refresh-profiles": {"task": "subscribers.tasks.profiles.refresh_profiles", "schedule": crontab(hour=2, minute=47)},
    "poll-sources": {
        "task": "digest.tasks.poll_sources",
        "schedule": crontab(minute=f"*/{read_int('POLL_EVERY_MINUTES')}"),
    },
    "enrich-unresolved": {
        "task": "digest.tasks.enrich_unresolved",
        "schedule": timedelta(minutes=read_int("ENRICH_EVERY_MINUTES")),
    },
}

# JSON lines in production (one object per line, extra= fields such as edition_id and subscriber_id included) for
# a log shipper; the plain format for a person reading `make run`.
LOG_FORMAT = read_str("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = logging_config(fmt=LOG_FORMAT, level=read_str("LOG_LEVEL").upper())
