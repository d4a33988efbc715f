"""The service's own variables: core, HTTPS, database and broker, beat and health, logging."""

from __future__ import annotations

from config.variables.spec import ALL, SENDERS, Computed, Group, Kind, Reader, Variable

_OFF_IN_DEBUG = Computed("off with DEBUG on, on with DEBUG off")

CORE = (
    Variable(
        name="DEBUG",
        kind=Kind.BOOL,
        default=True,
        meaning="Development mode: Django's error pages, a development SECRET_KEY, local host names, plain logs and "
        "unhashed static files. Turn it off in production; that also turns on the HTTPS redirect, HSTS, secure "
        "cookies and JSON logs unless their own variables say otherwise. With it on, every process also keeps its "
        "last 9,000 SQL statements in memory, so a sending worker grows as it sends.",
        readers=ALL,
        group=Group.CORE,
        example="0",
        fill_in=True,
        production="0",
    ),
    Variable(
        name="SECRET_KEY",
        kind=Kind.TEXT,
        default=Computed("a development key with DEBUG on; required with DEBUG off"),
        meaning="Django's signing key: sessions, CSRF, and the signed confirm, preferences and unsubscribe links in "
        'every email (changing it breaks the links already sent). 50+ random characters: `python -c "import '
        'secrets; print(secrets.token_urlsafe(50))"`.',
        readers=ALL,
        group=Group.CORE,
        fill_in=True,
        production="replace-with-50-random-characters-from-python-secrets-token-urlsafe-50",
    ),
    Variable(
        name="SITE_URL",
        kind=Kind.TEXT,
        default=Computed("`http://127.0.0.1:$PORT`"),
        meaning="The public absolute http(s) address: every link in every email and the feed's ids are built from "
        "it, never from a request's Host. With DEBUG off ALLOWED_HOSTS and CSRF_TRUSTED_ORIGINS default to its "
        "host. https in production.",
        readers=SENDERS,
        group=Group.CORE,
        example="https://papers.example.org",
        fill_in=True,
        production="https://papers.example.org",
    ),
    Variable(
        name="ALLOWED_HOSTS",
        kind=Kind.LIST,
        default=Computed("`127.0.0.1,localhost,[::1],testserver` with DEBUG on; the host of SITE_URL with DEBUG off"),
        meaning="Host names the web process answers to. Add the address your load balancer probes /healthz with.",
        readers=(Reader.WEB,),
        group=Group.CORE,
        example="papers.example.org,10.0.0.5",
        production="papers.example.org",
    ),
    Variable(
        name="CSRF_TRUSTED_ORIGINS",
        kind=Kind.LIST,
        default=Computed("none with DEBUG on; the scheme and host of SITE_URL with DEBUG off"),
        meaning="Origins (`https://host`) allowed to POST forms (sign-up, preferences, admin) besides the request's "
        "own host.",
        readers=(Reader.WEB,),
        group=Group.CORE,
        example="https://papers.example.org",
    ),
    Variable(
        name="VAR_DIR",
        kind=Kind.TEXT,
        default=Computed("`var/` in the checkout"),
        meaning="Folder for local state: the SQLite database, the file broker and file cache (when REDIS_URL is "
        "unset), the .eml outbox and beat's schedule file.",
        readers=ALL,
        group=Group.CORE,
        example="/var/lib/trending-papers",
        production="/var/lib/trending-papers",
    ),
    Variable(
        name="STATIC_ROOT",
        kind=Kind.TEXT,
        default=Computed("`staticfiles/` in the checkout"),
        meaning="Where `manage.py collectstatic` gathers the static files, which WhiteNoise serves from there.",
        readers=(Reader.WEB, Reader.COMMANDS),
        group=Group.CORE,
        example="/var/lib/trending-papers/static",
    ),
)

HTTPS = (
    Variable(
        name="SECURE_PROXY_SSL_HEADER",
        kind=Kind.BOOL,
        default=False,
        meaning="Trust X-Forwarded-Proto to tell HTTPS requests. Turn on only behind a TLS-terminating proxy that "
        "sets it (nginx, a load balancer), never when clients reach gunicorn directly: they could claim HTTPS.",
        readers=(Reader.WEB,),
        group=Group.HTTPS,
        production="1",
    ),
    Variable(
        name="SECURE_SSL_REDIRECT",
        kind=Kind.BOOL,
        default=_OFF_IN_DEBUG,
        meaning="Redirect plain-HTTP requests to HTTPS, except /healthz (load balancers probe it over HTTP).",
        readers=(Reader.WEB,),
        group=Group.HTTPS,
        example="1",
    ),
    Variable(
        name="SECURE_COOKIES",
        kind=Kind.BOOL,
        default=_OFF_IN_DEBUG,
        meaning="Send the session and CSRF cookies over HTTPS only.",
        readers=(Reader.WEB,),
        group=Group.HTTPS,
        example="1",
    ),
    Variable(
        name="SECURE_HSTS_SECONDS",
        kind=Kind.INT,
        default=Computed("`0` with DEBUG on, `31536000` (a year) with DEBUG off"),
        meaning="Strict-Transport-Security max-age: browsers refuse plain HTTP to this host for that many seconds; "
        "0 sends no header.",
        readers=(Reader.WEB,),
        group=Group.HTTPS,
        minimum=0,
        example="31536000",
    ),
    Variable(
        name="SECURE_HSTS_INCLUDE_SUBDOMAINS",
        kind=Kind.BOOL,
        default=_OFF_IN_DEBUG,
        meaning="Extend HSTS to every subdomain of the host.",
        readers=(Reader.WEB,),
        group=Group.HTTPS,
        example="1",
    ),
    Variable(
        name="SECURE_HSTS_PRELOAD",
        kind=Kind.BOOL,
        default=_OFF_IN_DEBUG,
        meaning="Add the preload directive to HSTS; the domain is preloaded only once its owner submits it to the "
        "browsers' list.",
        readers=(Reader.WEB,),
        group=Group.HTTPS,
        example="1",
    ),
    Variable(
        name="NUMBER_OF_PROXIES",
        kind=Kind.INT,
        default=0,
        meaning="Reverse proxies in front of the web process: the client IP the sign-up rate limit counts is taken "
        "that many hops from the right of X-Forwarded-For; 0 trusts only the socket's address.",
        readers=(Reader.WEB,),
        group=Group.HTTPS,
        minimum=0,
        maximum=5,
        production="1",
    ),
)

DATABASE = (
    Variable(
        name="DATABASE_URL",
        kind=Kind.TEXT,
        default=Computed("SQLite in `$VAR_DIR/db.sqlite3`"),
        meaning="The database as a URL (dj-database-url), e.g. `postgres://user:password@host:5432/name`. Tests and "
        "benchmarks use PostgreSQL through it too.",
        readers=(*ALL, Reader.TESTS, Reader.BENCH, Reader.CI),
        group=Group.DATABASE,
        example="postgres://newsletter:PASSWORD@127.0.0.1:5432/newsletter",
        fill_in=True,
        production="postgres://newsletter:CHANGE-ME@127.0.0.1:5432/newsletter",
    ),
    Variable(
        name="DATABASE_CONN_MAX_AGE",
        kind=Kind.INT,
        default=60,
        meaning="Seconds a process keeps a database connection open for reuse: a web process from request to request, "
        "a worker from task to task, each checked before it is reused (0: one per request or task). SQLite always "
        "uses 0.",
        readers=ALL,
        group=Group.DATABASE,
        minimum=0,
    ),
    Variable(
        name="REDIS_URL",
        kind=Kind.TEXT,
        default="",
        meaning="Redis for the Celery broker, the cache (sign-up and ESP rate limits, /healthz's ticks), the send "
        "journal and beat's lock. Unset: a file broker and file cache under VAR_DIR, for one host only.",
        readers=(*ALL, Reader.TESTS, Reader.BENCH, Reader.CI),
        group=Group.DATABASE,
        example="redis://127.0.0.1:6379/0",
        fill_in=True,
        production="redis://127.0.0.1:6379/0",
    ),
    Variable(
        name="CELERY_VISIBILITY_TIMEOUT",
        kind=Kind.INT,
        default=3600,
        meaning="Seconds before Redis hands a task to another worker when the one that took it never acknowledged "
        "it (it died); keep it above the longest task. Stalled sends do not wait for it: the sweep re-queues them.",
        readers=(Reader.WORKER,),
        group=Group.DATABASE,
        minimum=60,
    ),
    Variable(
        name="CELERY_TASK_SOFT_TIME_LIMIT",
        kind=Kind.INT,
        default=600,
        meaning="Seconds after which a running task is interrupted with SoftTimeLimitExceeded.",
        readers=(Reader.WORKER,),
        group=Group.DATABASE,
        minimum=10,
    ),
    Variable(
        name="CELERY_TASK_TIME_LIMIT",
        kind=Kind.INT,
        default=900,
        meaning="Seconds after which a running task's worker process is killed and replaced.",
        readers=(Reader.WORKER,),
        group=Group.DATABASE,
        minimum=20,
    ),
)

BEAT = (
    Variable(
        name="BEAT_LOCK_KEY",
        kind=Kind.TEXT,
        default="trending-papers:beat:leader",
        meaning="Redis key of beat's leader lock: only the beat holding it schedules, a second one stands by. Give "
        "each deployment sharing a Redis its own key.",
        readers=(Reader.BEAT,),
        group=Group.BEAT,
    ),
    Variable(
        name="BEAT_LOCK_TTL",
        kind=Kind.INT,
        default=30,
        meaning="Seconds the lock outlives its last renewal: a standby beat takes over within this long after the "
        "leader dies. The leader wakes at least every BEAT_LOCK_TTL / 3 seconds to renew it.",
        readers=(Reader.BEAT,),
        group=Group.BEAT,
        minimum=3,
        maximum=600,
    ),
    Variable(
        name="BEAT_HEARTBEAT_SECONDS",
        kind=Kind.INT,
        default=60,
        meaning="Seconds between the heartbeat tasks beat sends through the transactional queue; /healthz shows "
        "how long ago a worker last ran one.",
        readers=(Reader.BEAT,),
        group=Group.BEAT,
        minimum=1,
        maximum=3600,
    ),
    Variable(
        name="BEAT_STALE_SECONDS",
        kind=Kind.INT,
        default=300,
        meaning="/healthz reports `degraded` when beat's last tick, or the last heartbeat a worker ran, is older "
        "than this many seconds.",
        readers=(Reader.WEB,),
        group=Group.BEAT,
        minimum=10,
    ),
    Variable(
        name="EDITION_STUCK_MINUTES",
        kind=Kind.INT,
        default=120,
        meaning="/healthz reports `degraded` when the latest edition has been sending for longer than this many "
        "minutes.",
        readers=(Reader.WEB,),
        group=Group.BEAT,
        minimum=5,
    ),
)

LOGGING = (
    Variable(
        name="LOG_FORMAT",
        kind=Kind.TEXT,
        default=Computed("`plain` with DEBUG on, `json` with DEBUG off"),
        meaning="Plain lines for a person, or JSON lines (one object per line, with fields such as edition_id) for a "
        "log shipper. gunicorn's own lines follow it too.",
        readers=(*ALL, Reader.GUNICORN),
        group=Group.LOGGING,
        choices=("plain", "json"),
        example="json",
        production="json",
    ),
    Variable(
        name="LOG_LEVEL",
        kind=Kind.TEXT,
        default="INFO",
        meaning="Lowest level logged: DEBUG, INFO, WARNING, ERROR or CRITICAL (any case).",
        readers=(*ALL, Reader.GUNICORN),
        group=Group.LOGGING,
    ),
)

SERVICE = (*CORE, *HTTPS, *DATABASE, *BEAT, *LOGGING)
