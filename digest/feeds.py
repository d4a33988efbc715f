"""An Atom feed of the published editions.

Every URL in it (the feed's id, its self and alternate links, each entry's id and link) is built from ``SITE_URL``,
never from the request: a feed fetched as ``http://localhost:8765/feed/`` or through a proxy's internal name must
name the same feed, or readers see every edition twice. RFC 4287 asks for an author on the feed (the entries have
none of their own): the newsletter, at the site's address.
"""

from __future__ import annotations

from datetime import datetime, time

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.db.models import Prefetch, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed

from digest.models import Edition, EditionEntry
from digest.publishing import public_editions
from digest.rendering import archive_url, edition_subject

FEED_ITEMS = 30


class EditionFeed(Feed):
    feed_type = Atom1Feed
    description_template = None

    def title(self) -> str:
        return settings.NEWSLETTER_NAME

    def subtitle(self) -> str:
        return f"Every edition of {settings.NEWSLETTER_NAME}."

    def link(self) -> str:
        return f"{settings.SITE_URL}{reverse('digest:edition_list')}"

    def feed_url(self) -> str:
        return f"{settings.SITE_URL}{reverse('digest:feed')}"

    def feed_guid(self) -> str:
        # The feed's own address: permanent, and unique to this deployment.
        return self.feed_url()

    def author_name(self) -> str:
        return settings.NEWSLETTER_NAME

    def author_link(self) -> str:
        return f"{settings.SITE_URL}/"

    def items(self) -> QuerySet[Edition]:
        entries = EditionEntry.objects.select_related("paper").order_by("position")
        return public_editions().prefetch_related(Prefetch("entries", queryset=entries))[:FEED_ITEMS]

    def item_title(self, item: Edition) -> str:
        return edition_subject(item)

    def item_link(self, item: Edition) -> str:
        return archive_url(item)

    def item_guid(self, item: Edition) -> str:
        return archive_url(item)

    def item_description(self, item: Edition) -> str:
        return render_to_string("digest/feed_item.html", {"edition": item, "entries": item.entries.all()})

    def item_pubdate(self, item: Edition) -> datetime:
        return item.sent_at or item.approved_at or timezone.make_aware(datetime.combine(item.date, time.min))

    def item_updateddate(self, item: Edition) -> datetime:
        return self.item_pubdate(item)
