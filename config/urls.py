from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from config.health import healthz
from subscribers.dashboard import dashboard

urlpatterns = [
    path("admin/dashboard/", admin.site.admin_view(dashboard), name="admin-dashboard"),
    path("admin/", admin.site.urls),
    # No trailing slash and exempt from the HTTPS redirect: what load balancers probe by default.
    path("healthz", healthz, name="healthz"),
    # ESP tracking webhooks (delivered, bounced, complained, ...), behind HTTP basic auth with WEBHOOK_SECRET.
    path("anymail/", include("anymail.urls")),
    path("", include("subscribers.urls")),
    path("", include("digest.urls")),
]
