"""Variables read by what starts the processes (make, the Procfile, systemd, gunicorn) and by tests and benchmarks."""

from __future__ import annotations

from config.variables.spec import Group, Kind, Reader, Variable

PROCESSES = (
    Variable(
        name="PORT",
        kind=Kind.INT,
        default=8000,
        meaning="Port the web server listens on: `make run`'s (on 127.0.0.1) and the Procfile's gunicorn (on all "
        "addresses). With SITE_URL unset, links point at `http://127.0.0.1:$PORT`.",
        readers=(Reader.MAKE, Reader.PROCFILE, Reader.WEB),
        group=Group.PROCESSES,
        minimum=1,
        maximum=65535,
    ),
    Variable(
        name="WEB_CONCURRENCY",
        kind=Kind.INT,
        default=1,
        meaning="gunicorn's worker processes; gunicorn reads it itself, in the Procfile and the systemd unit alike.",
        readers=(Reader.GUNICORN,),
        group=Group.PROCESSES,
        example="3",
        production="3",
        external="gunicorn.config",
    ),
    Variable(
        name="FORWARDED_ALLOW_IPS",
        kind=Kind.TEXT,
        default="127.0.0.1",
        meaning="Addresses the Procfile's gunicorn trusts to set X-Forwarded-* headers (the systemd unit passes "
        "127.0.0.1 itself).",
        readers=(Reader.PROCFILE,),
        group=Group.PROCESSES,
    ),
    Variable(
        name="SENDING_CONCURRENCY",
        kind=Kind.INT,
        default=4,
        meaning="Processes of the Procfile's `sending` worker.",
        readers=(Reader.PROCFILE,),
        group=Group.PROCESSES,
    ),
    Variable(
        name="WORKER_CONCURRENCY",
        kind=Kind.INT,
        default=2,
        meaning="Processes of a `trending-papers-worker@<queue>` systemd unit; set it per queue in "
        "`/etc/trending-papers/worker-<queue>.env`.",
        readers=(Reader.SYSTEMD,),
        group=Group.PROCESSES,
    ),
)

DEVELOPMENT = (
    Variable(
        name="PYTHON",
        kind=Kind.TEXT,
        default="python3.11",
        meaning="The interpreter `make install` creates `.venv/` with (Python 3.11 to 3.13).",
        readers=(Reader.MAKE,),
        group=Group.DEVELOPMENT,
    ),
    Variable(
        name="TEST_DB_NAME",
        kind=Kind.TEXT,
        default="",
        default_text="`test_` + the database's name (SQLite: `$VAR_DIR/test.sqlite3`)",
        meaning="Name of the test database pytest-django creates, so several runs can share one PostgreSQL "
        "(`bench/send.py` uses `bench_send`).",
        readers=(Reader.TESTS, Reader.BENCH),
        group=Group.DEVELOPMENT,
    ),
    Variable(
        name="BENCH_DB",
        kind=Kind.TEXT,
        default="bench_scale",
        meaning="The database `bench/scale.py` and `bench/esp_rate.py` create (and drop) on DATABASE_URL's server, "
        "so benches run side by side on one PostgreSQL each name their own.",
        readers=(Reader.BENCH,),
        group=Group.DEVELOPMENT,
    ),
    Variable(
        name="CI",
        kind=Kind.BOOL,
        default=False,
        meaning="Any value but empty, `0` or `false` (`.ci/run` sets `true`): a test whose service (PostgreSQL, "
        "Redis, Chromium, caniemail) is missing fails instead of being skipped.",
        readers=(Reader.TESTS, Reader.CI),
        group=Group.DEVELOPMENT,
    ),
    Variable(
        name="CHROMIUM_PATH",
        kind=Kind.TEXT,
        default="/usr/bin/chromium",
        meaning="The Chromium the page tests drive through Playwright.",
        readers=(Reader.TESTS,),
        group=Group.DEVELOPMENT,
    ),
    Variable(
        name="FUZZ_SCALE",
        kind=Kind.INT,
        default=1,
        meaning="Multiplies every example budget of the fuzz pass (`tests/e2e/test_fuzz.py`); `bench/fuzz.py` "
        "passes 20 by default.",
        readers=(Reader.TESTS, Reader.BENCH),
        group=Group.DEVELOPMENT,
        minimum=1,
    ),
    Variable(
        name="FUZZ_SEED",
        kind=Kind.INT,
        default=20251,
        meaning="The fuzz pass's hypothesis seed: fixed, so the suite sends the same requests every run; "
        "`bench/fuzz.py` draws a random one and prints it for replaying.",
        readers=(Reader.TESTS, Reader.BENCH),
        group=Group.DEVELOPMENT,
    ),
    Variable(
        name="FUZZ_HUGE",
        kind=Kind.INT,
        default=200000,
        meaning="Length in characters of the longest value the fuzz pass generates; `bench/fuzz.py` passes "
        "3,000,000, past Django's 2.5 MB limit on a request body.",
        readers=(Reader.TESTS, Reader.BENCH),
        group=Group.DEVELOPMENT,
        minimum=1,
    ),
    Variable(
        name="SCALE_OUT_SUBSCRIBERS",
        kind=Kind.INT,
        default=20000,
        meaning="Subscribers in the scale-out test's edition (`tests/ops/test_scale_out.py`).",
        readers=(Reader.TESTS,),
        group=Group.DEVELOPMENT,
    ),
)

TOOLING = (*PROCESSES, *DEVELOPMENT)
