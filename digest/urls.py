from __future__ import annotations

from django.urls import path

from digest import views
from digest.feeds import EditionFeed

app_name = "digest"

urlpatterns = [
    path("editions/", views.edition_list, name="edition_list"),
    path("editions/<str:day>/", views.edition_detail, {"frequency": "daily"}, name="edition"),
    path("editions/weekly/<str:day>/", views.edition_detail, {"frequency": "weekly"}, name="weekly_edition"),
    path("feed/", EditionFeed(), name="feed"),
]
