from __future__ import annotations

from django.urls import path

from subscribers import feedback_views, views
from subscribers.clicks.views import click_redirect

app_name = "subscribers"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("subscribe/", views.subscribe, name="subscribe"),
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("preferences/<str:token>/", views.preferences, name="preferences"),
    path("preferences/<str:token>/export/", views.export_data, name="export"),
    path("preferences/<str:token>/delete/", views.delete_me, name="delete"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    # Tracked paper links in editions (subscribers/clicks/).
    path("r/<str:token>/<int:number>/", click_redirect, name="click"),
    path("feedback/<str:token>/more/", feedback_views.feedback, {"choice": "more"}, name="feedback_more"),
    path("feedback/<str:token>/less/", feedback_views.feedback, {"choice": "less"}, name="feedback_less"),
    path("preferences/<str:token>/votes/<int:paper_id>/undo/", feedback_views.undo_vote, name="undo_vote"),
]
