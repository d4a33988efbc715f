"""Writing admin actions into the admin log: Django logs form saves by itself, but not actions or custom views."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.db.models import Model
from django.http import HttpRequest


def _user_id(request: HttpRequest) -> int:
    # Admin views run behind admin_view(): the user is a signed-in staff member, never anonymous.
    user_id = request.user.pk
    assert user_id is not None
    return int(user_id)


def log_changes(request: HttpRequest, objects: Iterable[Model], message: str) -> None:
    """One CHANGE entry per object, written in one INSERT however many objects an action touched."""
    LogEntry.objects.log_actions(
        user_id=_user_id(request), queryset=list(objects), action_flag=CHANGE, change_message=message
    )


def log_additions(request: HttpRequest, objects: Iterable[Model], message: str) -> None:
    LogEntry.objects.log_actions(
        user_id=_user_id(request), queryset=list(objects), action_flag=ADDITION, change_message=message
    )
