from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from config.health import healthz
from subscribers.dashboard import dashboard, dashboard_resume

urlpatterns = [
    path("admin/dashboard/", admin.site.admin_view(dashboard), name="admin-dashboard"),
    path("admin/brake/resume/", admin.site.admin_view(dashboard_resume), name="admin-brake-resume"),
    path("admin/", admin.site.urls),
    # No trailing slash and exempt from the HTTPS redirect: what load balancers probe by default.
    path("healthz", healthz, name="healthz"),
    # The configured ESP's tracking and inbound webhooks only, behind HTTP basic auth with WEBHOOK_SECRET (and the
    # ESP's signature where it signs): another ESP's URL is a 404, bad input a 4xx (subscribers/webhooks/guard.py).
    path("anymail/", include("subscribers.webhooks.urls")),
    path("", include("subscribers.urls")),
    path("", include("digest.urls")),
]
