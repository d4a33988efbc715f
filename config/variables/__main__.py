"""``python -m config.variables --write`` regenerates the configuration reference; ``--check`` only compares.

``make docs`` runs ``--write``. Exit status 1 from ``--check`` lists the files that differ from the registry.
"""

from __future__ import annotations

import argparse
import sys

from config.variables import REGISTRY
from config.variables.docs import ROOT, stale_files, write_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m config.variables", description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite README.md's tables and the example env files")
    mode.add_argument("--check", action="store_true", help="exit 1 if any of them differs from the registry")
    args = parser.parse_args(argv)
    if args.write:
        for path in write_files(REGISTRY):
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    stale = stale_files(REGISTRY)
    for path in stale:
        print(f"{path.relative_to(ROOT)} differs from config/variables/: run `make docs`", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
