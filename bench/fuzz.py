"""The long fuzz pass: tests/e2e/test_fuzz.py with a bigger example budget and a fresh random seed.

The suite runs the same pass with a small fixed budget and a fixed seed; this one explores. It uses the suite's
database settings (``DATABASE_URL``, ``REDIS_URL``: PostgreSQL is where NUL bytes and bad regular expressions are
errors) and a test database of its own, so it can run beside the suite.

    .venv/bin/python bench/fuzz.py [--scale 20] [--seed N] [--huge 3000000]

Prints each pass's number of requests, endpoints, 5xx answers and status counts, the seed, and the time taken.
A failing pass prints the requests that met a 5xx, grouped by endpoint and error (replay them with ``--seed``).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=20, help="multiplies every example budget of the suite's pass")
    parser.add_argument("--seed", type=int, default=None, help="replay a pass (default: a random seed)")
    parser.add_argument("--huge", type=int, default=3_000_000, help="longest generated value, in characters")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    env = {
        **os.environ,
        "FUZZ_SCALE": str(args.scale),
        "FUZZ_SEED": str(seed),
        "FUZZ_HUGE": str(args.huge),
        "TEST_DB_NAME": os.environ.get("TEST_DB_NAME", "test_bench_fuzz"),
    }
    print(f"fuzz: scale {args.scale}, seed {seed}, longest value {args.huge:,} characters", flush=True)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/e2e/test_fuzz.py", "-q", "-p", "no:cacheprovider", "--create-db"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.monotonic() - started
    lines = result.stdout.splitlines()
    for line in lines:
        if line.startswith("fuzz "):
            print(line)
    if result.returncode:
        print("\n".join(line for line in lines if line.startswith(("E ", "FAILED"))))
        print(result.stderr[-2000:], file=sys.stderr)
    print(f"{elapsed:.0f} s in all; pytest exit status {result.returncode}")
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
