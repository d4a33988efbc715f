"""Resuming sending after the complaint-rate brake, from the dashboard or an edition's page, into the admin log."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from digest.admin.audit import log_changes
from subscribers.brake import BrakeStateError, Resumed, brake_resume
from subscribers.models import SendingBrake

# Resuming sends editions out again: the same permission as approving or sending one.
RESUME_PERMISSION = "digest.change_edition"


def resume_and_log(request: HttpRequest) -> Resumed:
    """Resume as ``request.user``; the brake's row and each edition given back get an admin log entry."""
    resumed = brake_resume(user=request.user, now=timezone.now())
    message = f"Resumed sending after the complaint-rate brake ({resumed.reason})"
    log_changes(request, [SendingBrake.objects.get(pk=SendingBrake.SINGLETON)], message)
    if resumed.editions:
        log_changes(request, resumed.editions, message)
    return resumed


def released_text(resumed: Resumed) -> str:
    names = ", ".join(str(edition) for edition in resumed.editions)
    return f"Sending resumed. Given back: {names}." if names else "Sending resumed. No edition was held."


@require_POST
def brake_resume_view(request: HttpRequest) -> HttpResponse:
    """The dashboard's "Resume sending" button (wrapped in ``admin_view``: staff only)."""
    if not request.user.has_perm(RESUME_PERMISSION):
        raise PermissionDenied
    try:
        resumed = resume_and_log(request)
    except BrakeStateError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, released_text(resumed))
    return HttpResponseRedirect(reverse("admin-dashboard"))
