"""The webhook URLs of the configured ESP alone, under ``anymail/`` and in the ``anymail`` namespace as Anymail's.

Anymail's own ``anymail.urls`` mounts every ESP's views; posting to one whose ESP is not configured raised
``AnymailConfigurationError`` (a 500 with a traceback). Mounting only ``ESP``'s makes the others a plain 404.
``config/urls.py`` includes this module by name.
"""

from __future__ import annotations

from anymail import urls as anymail_urls
from django.conf import settings
from django.urls import URLPattern, path, re_path
from django.urls.resolvers import RegexPattern

from subscribers.webhooks.guard import guarded_view


def webhook_urlpatterns(esp: str) -> list[URLPattern]:
    """Anymail's tracking and inbound URLs for ``esp`` (none for the embedded outbox), each behind the guard.

    Taken from ``anymail.urls`` rather than listed here, so an Anymail upgrade that adds or moves a view is followed.
    """
    if not esp:
        return []
    patterns = []
    for pattern in anymail_urls.urlpatterns:
        if not isinstance(pattern, URLPattern):
            continue
        route = str(pattern.pattern)
        if not route.lstrip("^").startswith(f"{esp}/"):
            continue
        # as_view() records the class it was made from: the guard wraps that class, not the finished view.
        view_class = getattr(pattern.callback, "view_class", None)
        if view_class is None:
            continue
        endpoint = guarded_view(view_class)
        mount = re_path if isinstance(pattern.pattern, RegexPattern) else path
        patterns.append(mount(route, endpoint, name=pattern.name))
    return patterns


app_name = "anymail"
urlpatterns = webhook_urlpatterns(settings.ESP)
