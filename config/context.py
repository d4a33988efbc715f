"""What every site page's template needs (the base template's header, title and link previews)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, Any]:
    # Link previews and feed discovery name the site by SITE_URL, never by the request's Host header.
    return {"newsletter_name": settings.NEWSLETTER_NAME, "site_url": settings.SITE_URL}
