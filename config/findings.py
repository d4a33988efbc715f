"""What each ``manage.py doctor`` check reports, shared by ``config.doctor`` and ``config.doctor_dns``."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr

from django.conf import settings


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    # A warning is reported but does not fail the run (e.g. "sender not checkable with this ESP").
    warning: bool = False


def sender_address() -> str:
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1]


def sender_domain() -> str:
    return sender_address().rpartition("@")[2].lower().rstrip(".")
