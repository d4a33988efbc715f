"""Resuming sending after the complaint-rate brake (the dashboard's button, the edition page's), into the admin log."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils import timezone

from digest.admin.audit import log_changes
from subscribers.brake import Resumed, brake_resume
from subscribers.models import SendingBrake

# Resuming sends editions out again: the same permission as approving or sending one.
RESUME_PERMISSION = "digest.change_edition"


def resume_and_log(request: HttpRequest) -> Resumed:
    """Resume as ``request.user``; the brake's row and each edition given back get an admin log entry."""
    if not isinstance(request.user, AbstractBaseUser):  # admin_view lets only signed-in staff this far
        raise PermissionDenied
    resumed = brake_resume(user=request.user, now=timezone.now())
    message = f"Resumed sending after the complaint-rate brake ({resumed.reason})"
    log_changes(request, [SendingBrake.objects.get(pk=SendingBrake.SINGLETON)], message)
    if resumed.editions:
        log_changes(request, resumed.editions, message)
    return resumed


def released_text(resumed: Resumed) -> str:
    names = ", ".join(str(edition) for edition in resumed.editions)
    return f"Sending resumed. Given back: {names}." if names else "Sending resumed. No edition was held."
