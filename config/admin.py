"""Django's own User and Group admins, re-registered on the project's guarded base (config.admin_base).

They are reachable by every staff member who can manage accounts, so their filters get the same answers to bad
input as the project's own changelists.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User

from config.admin_base import GuardedModelAdmin


class GuardedUserAdmin(GuardedModelAdmin, UserAdmin):
    pass


class GuardedGroupAdmin(GuardedModelAdmin, GroupAdmin):
    pass


for _model, _admin_class in ((User, GuardedUserAdmin), (Group, GuardedGroupAdmin)):
    admin.site.unregister(_model)
    admin.site.register(_model, _admin_class)
