"""``make run``'s process manager: honcho running Procfile.dev (web, Celery worker, beat); Ctrl-C stops them all.

Celery's warm shutdown on the file-system broker takes 4-8 s (its loop and pool threads wake up on timers), longer
than the 5 s honcho waits before SIGKILL; a worker killed mid-shutdown would leave its current task to be redelivered.
"""

from __future__ import annotations

import sys

import honcho.manager
from honcho.command import main

honcho.manager.KILL_WAIT = 30

if __name__ == "__main__":
    sys.exit(main())
