"""The newsletter's variables: the edition, ingestion, sending and subscriptions."""

from __future__ import annotations

from config.variables.spec import ALL, SENDERS, Group, Kind, Reader, Variable

_BUILDERS = (Reader.WORKER, Reader.WEB, Reader.COMMANDS)  # the tick, the admin's build button, build_edition
_SENDING = (Reader.WORKER, Reader.COMMANDS)  # chunk tasks and the sweep, send_edition

NEWSLETTER = (
    Variable(
        name="NEWSLETTER_NAME",
        kind=Kind.TEXT,
        default="Trending Papers",
        meaning="The newsletter's name, in subjects (`Trending Papers: Monday 3 March 2025`), emails, pages, the "
        "feed's title and the page fetcher's User-Agent.",
        readers=ALL,
        group=Group.NEWSLETTER,
    ),
    Variable(
        name="SEND_HOUR",
        kind=Kind.INT,
        default=7,
        meaning="Hour of the day the edition is built (in UTC) and from which each subscriber receives it, in their "
        "own time zone.",
        readers=(Reader.WORKER,),
        group=Group.NEWSLETTER,
        minimum=0,
        maximum=23,
        production="7",
    ),
    Variable(
        name="TRENDING_WINDOW_DAYS",
        kind=Kind.INT,
        default=7,
        meaning="Days of pages a daily edition's scores count (a weekly edition always takes its 7 days).",
        readers=_BUILDERS,
        group=Group.NEWSLETTER,
        minimum=1,
        maximum=365,
    ),
    Variable(
        name="TRENDING_TOP_N",
        kind=Kind.INT,
        default=10,
        meaning="Papers in an edition, pinned ones included.",
        readers=_BUILDERS,
        group=Group.NEWSLETTER,
        minimum=1,
        maximum=200,
    ),
    Variable(
        name="APPROVAL_REQUIRED",
        kind=Kind.BOOL,
        default=False,
        meaning="On: the schedule sends an edition only after a curator approves it in the admin. Off: the tick "
        "approves the edition it builds. `send_edition` sends either way, and says so.",
        readers=(Reader.WORKER, Reader.WEB),
        group=Group.NEWSLETTER,
        production="0",
    ),
    Variable(
        name="SKIP_STALE_DAILY",
        kind=Kind.BOOL,
        default=True,
        meaning="On: a daily edition is not sent when no page was ingested since the previous daily edition was built, "
        "nor lists a later day (the source publishes on weekdays only, so weekends would repeat Friday's list). Off: "
        "it goes out every day. "
        "`send_edition --allow-stale` sends one anyway. An edition with no papers is never sent either way.",
        readers=(Reader.WORKER, Reader.WEB, Reader.COMMANDS),
        group=Group.NEWSLETTER,
    ),
    Variable(
        name="WEEKLY_WEEKDAY",
        kind=Kind.INT,
        default=0,
        meaning="Day the weekly edition is built (its UTC date) and sent: 0 = Monday ... 6 = Sunday.",
        readers=(Reader.WORKER,),
        group=Group.NEWSLETTER,
        minimum=0,
        maximum=6,
    ),
)

INGESTION = (
    Variable(
        name="POLL_EVERY_MINUTES",
        kind=Kind.INT,
        default=30,
        meaning="Beat fetches every enabled Source at each minute of the hour divisible by this (cron `*/N`).",
        readers=(Reader.BEAT,),
        group=Group.INGESTION,
        minimum=1,
        maximum=59,
    ),
    Variable(
        name="INGEST_FETCH_TIMEOUT",
        kind=Kind.FLOAT,
        default=20.0,
        meaning="Seconds a fetch of a page may take: each wait on the server, and the whole download.",
        readers=(Reader.WORKER, Reader.WEB, Reader.COMMANDS),
        group=Group.INGESTION,
        minimum=0.1,
    ),
    Variable(
        name="INGEST_MAX_BYTES",
        kind=Kind.INT,
        default=10 * 1024 * 1024,
        meaning="Largest page accepted, fetched, uploaded in the admin or read from a file; a larger one is "
        "reported as failed and not stored.",
        readers=(Reader.WORKER, Reader.WEB, Reader.COMMANDS),
        group=Group.INGESTION,
        minimum=1024,
    ),
    Variable(
        name="ARXIV_API_URL",
        kind=Kind.TEXT,
        default="https://export.arxiv.org/api/query",
        meaning="The arXiv API that papers listed without an arXiv id are looked up in, by exact title "
        '(`ti:"..."`); empty turns that lookup off.',
        readers=(Reader.WORKER, Reader.WEB, Reader.COMMANDS),
        group=Group.INGESTION,
    ),
    Variable(
        name="HF_API_URL",
        kind=Kind.TEXT,
        default="https://huggingface.co/api",
        meaning="The Hugging Face API whose papers search is asked when arXiv has no exact title match (and brings "
        "the TL;DR, code and project page); empty turns it off.",
        readers=(Reader.WORKER, Reader.WEB, Reader.COMMANDS),
        group=Group.INGESTION,
    ),
    Variable(
        name="ENRICH_ARXIV_INTERVAL",
        kind=Kind.FLOAT,
        default=3.0,
        meaning="Seconds between two title lookups at arXiv, across every worker (through the cache): arXiv's "
        "terms ask for 3.",
        readers=(Reader.WORKER, Reader.COMMANDS),
        group=Group.INGESTION,
        minimum=0.0,
    ),
    Variable(
        name="ENRICH_HF_INTERVAL",
        kind=Kind.FLOAT,
        default=1.0,
        meaning="Seconds between two title lookups at Hugging Face, across every worker.",
        readers=(Reader.WORKER, Reader.COMMANDS),
        group=Group.INGESTION,
        minimum=0.0,
    ),
    Variable(
        name="ENRICH_TIMEOUT",
        kind=Kind.FLOAT,
        default=15.0,
        meaning="Seconds a title lookup may take; one that times out is retried later, the paper untouched.",
        readers=(Reader.WORKER, Reader.COMMANDS),
        group=Group.INGESTION,
        minimum=0.1,
    ),
    Variable(
        name="ENRICH_MISS_HOURS",
        kind=Kind.INT,
        default=24,
        meaning="Hours a title that matched nothing (or got an unreadable answer) is left alone before it is "
        "looked up again.",
        readers=(Reader.WORKER, Reader.WEB, Reader.COMMANDS),
        group=Group.INGESTION,
        minimum=0,
        maximum=24 * 90,
    ),
    Variable(
        name="ENRICH_EVERY_MINUTES",
        kind=Kind.INT,
        default=60,
        meaning="Minutes between beat's sweeps that queue lookups for papers still without an arXiv id.",
        readers=(Reader.BEAT,),
        group=Group.INGESTION,
        minimum=1,
        maximum=24 * 60,
    ),
)

SENDING = (
    Variable(
        name="SEND_CHUNK_SIZE",
        kind=Kind.INT,
        default=500,
        meaning="Subscribers per chunk: one task and one ESP connection each, at fan-out, in the sweep and in "
        "`send_edition`. A chunk is a range of subscriber ids and claims at most this many of its rows.",
        readers=_SENDING,
        group=Group.SENDING,
        minimum=1,
        maximum=10_000,
    ),
    Variable(
        name="SEND_TICK_SECONDS",
        kind=Kind.INT,
        default=300,
        meaning="Seconds between beat's newsletter ticks. A tick builds the day's edition once SEND_HOUR has come in "
        "UTC, and sends the newest edition to the subscribers who are due.",
        readers=(Reader.BEAT,),
        group=Group.SENDING,
        minimum=1,
        maximum=3600,
    ),
    Variable(
        name="SEND_CATCHUP_HOURS",
        kind=Kind.INT,
        default=3,
        meaning="Hours from SEND_HOUR, in the subscriber's time zone, during which they are due: ticks missed while "
        "beat was down are made up inside this window, never later in the day.",
        readers=(Reader.WORKER,),
        group=Group.SENDING,
        minimum=1,
        maximum=24,
    ),
    Variable(
        name="SEND_SWEEP_SECONDS",
        kind=Kind.INT,
        default=60,
        meaning="Seconds between sweeps. A sweep settles the claims of workers that died and re-queues deliveries "
        "whose task was lost.",
        readers=(Reader.BEAT,),
        group=Group.SENDING,
        minimum=1,
        maximum=3600,
    ),
    Variable(
        name="SEND_STALL_SECONDS",
        kind=Kind.INT,
        default=120,
        meaning="Seconds of silence in a claim's send journal after which its worker counts as dead, and age after "
        "which a queued delivery's task counts as lost. Must exceed twice ESP_TIMEOUT, or a send still waiting on "
        "the ESP would be taken for dead.",
        readers=_SENDING,
        group=Group.SENDING,
        minimum=2,
    ),
    Variable(
        name="SEND_MAX_RETRIES",
        kind=Kind.INT,
        default=8,
        meaning="Retries of a chunk the ESP throttled or failed for the moment (429, 5xx, no connection). After the "
        "last one the chunk's task gives up and its rows stay queued for the sweep; `send_edition` stops retrying.",
        readers=_SENDING,
        group=Group.SENDING,
        minimum=0,
        maximum=50,
    ),
    Variable(
        name="SEND_RETRY_BACKOFF",
        kind=Kind.FLOAT,
        default=10.0,
        meaning="Seconds: retry n waits a random time between 0 and SEND_RETRY_BACKOFF * 2^n, at most 600 s (full "
        "jitter, so chunks throttled together do not come back together).",
        readers=_SENDING,
        group=Group.SENDING,
        minimum=0.0,
    ),
    Variable(
        name="RESEND_AMBIGUOUS",
        kind=Kind.BOOL,
        default=True,
        meaning="A delivery whose worker died during the ESP call is `ambiguous`: the ESP may have accepted it. On "
        "(at-least-once) it is sent again, possibly a second time; off (at-most-once) it is never re-sent by "
        "itself: its edition stays `sending` until an operator settles it, as sent or to send again (`send_edition "
        "--settle-in-doubt`, or the edition's page).",
        readers=_SENDING,
        group=Group.SENDING,
    ),
)

# Read by every checkpoint before a send (the tick, each chunk, send_edition) and by the dashboard and /healthz.
BRAKE = (
    Variable(
        name="BRAKE_COMPLAINT_WARN_PERCENT",
        kind=Kind.FLOAT,
        default=0.1,
        meaning="Complaint rate (percent of the window's accepted deliveries) above which the dashboard warns and "
        "/healthz says `degraded`: Gmail's recommended ceiling.",
        readers=SENDERS,
        group=Group.BRAKE,
        minimum=0.0,
        maximum=100.0,
    ),
    Variable(
        name="BRAKE_COMPLAINT_PAUSE_PERCENT",
        kind=Kind.FLOAT,
        default=0.3,
        meaning="Complaint rate above which sending pauses (Gmail's limit): editions about to go out are held with "
        "the rate, the tick and chunks send nothing and `send_edition` refuses without `--force`, until a curator "
        "resumes in the admin.",
        readers=SENDERS,
        group=Group.BRAKE,
        minimum=0.0,
        maximum=100.0,
    ),
    Variable(
        name="BRAKE_BOUNCE_PAUSE_PERCENT",
        kind=Kind.FLOAT,
        default=5.0,
        meaning="Hard-bounce rate above which sending pauses, in the same way (soft bounces do not count).",
        readers=SENDERS,
        group=Group.BRAKE,
        minimum=0.0,
        maximum=100.0,
    ),
    Variable(
        name="BRAKE_WINDOW_DELIVERIES",
        kind=Kind.INT,
        default=10_000,
        meaning="The rates are taken over at most this many of the most recently sent deliveries (and over "
        "BRAKE_WINDOW_DAYS at most); a complaint counts against the delivery it is about.",
        readers=SENDERS,
        group=Group.BRAKE,
        minimum=100,
        maximum=1_000_000,
    ),
    Variable(
        name="BRAKE_WINDOW_DAYS",
        kind=Kind.INT,
        default=30,
        meaning="Deliveries sent longer ago than this many days are out of the window, however few the sends.",
        readers=SENDERS,
        group=Group.BRAKE,
        minimum=1,
        maximum=365,
    ),
    Variable(
        name="BRAKE_MIN_DELIVERIES",
        kind=Kind.INT,
        default=1000,
        meaning="Fewest deliveries in the window before the rates are judged at all: below it nothing warns or "
        "pauses (one complaint among 200 sends is 0.5% and says little). After a resume, it counts only deliveries "
        "sent since.",
        readers=SENDERS,
        group=Group.BRAKE,
        minimum=1,
    ),
)

SUBSCRIPTIONS = (
    Variable(
        name="SUBSCRIBE_CONFIRM_MAX_AGE_DAYS",
        kind=Kind.INT,
        default=7,
        meaning="Days a confirmation link stays valid; the confirmation email says so.",
        readers=(Reader.WEB, Reader.WORKER),
        group=Group.SUBSCRIPTIONS,
        minimum=1,
        maximum=60,
    ),
    Variable(
        name="SUBSCRIBE_RATE_PER_IP",
        kind=Kind.TEXT,
        default="20/h",
        meaning="Most sign-up attempts per client IP (an IPv6 /64 counts as one), as count/period: `20/h`, `5/10m` "
        "(s, m, h or d). Counted on the cache: Redis when REDIS_URL is set.",
        readers=(Reader.WEB,),
        group=Group.SUBSCRIPTIONS,
    ),
    Variable(
        name="SUBSCRIBE_RATE_PER_ADDRESS",
        kind=Kind.TEXT,
        default="5/h",
        meaning="Most sign-up attempts per email address, in the same form.",
        readers=(Reader.WEB,),
        group=Group.SUBSCRIPTIONS,
    ),
)

NEWSLETTER_VARIABLES = (*NEWSLETTER, *INGESTION, *SENDING, *BRAKE, *SUBSCRIPTIONS)
