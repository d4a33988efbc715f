"""The edition body a sender emails: every paper link through the redirect, the edition's link table written once.

``edition_body`` gives each paper link of the cards (whatever ``EntryView`` yields: title, paper page, PDF, code,
project page, ...) to ``_Numbering``, which answers ``{SITE_URL}/r/<mark>/<number>/``. The mark is a random string
of this rendering that ``subscribers.messages`` replaces with the recipient's click token in the finished message:
one HMAC and two ``str.replace`` per recipient, no query. A link already in the edition's table keeps its number (a
rebuilt edition or another worker's rendering never renumbers an emailed link); a new one gets the next free number.
With ``TRACK_CLICKS`` off the body has plain links and no mark.
"""

from __future__ import annotations

import logging
import secrets

from django.conf import settings

from digest.models import Edition
from digest.rendering.body import EditionBody, PaperLink, edition_body
from subscribers.clicks.links import LinkTable, TrackedLink, click_url, edition_links_record, edition_links_stored
from subscribers.models import LinkKind

logger = logging.getLogger(__name__)

_ATTEMPTS = 3  # renderings racing for the same new numbers: the loser renders again after the winner's rows


def link_kind(kind: str) -> LinkKind:
    """The kind a click is recorded under: the card's own name for the link (``PaperLink.kind``), or "other"."""
    return LinkKind(kind) if kind in LinkKind.values else LinkKind.OTHER


class LinkTableConflict(RuntimeError):
    """Another rendering took the numbers this one chose, every attempt."""


class _Numbering:
    """The ``wrap_link`` of one rendering: existing links keep their number, new ones are numbered after them."""

    def __init__(self, *, stored: LinkTable, mark: str) -> None:
        self.mark = mark
        self.numbers = {(link.paper_id, link.kind, link.url): number for number, link in stored.items()}
        self.next = max(stored, default=0) + 1
        self.new: list[TrackedLink] = []

    def __call__(self, link: PaperLink) -> str:
        if not link.url.startswith(("https://", "http://")):
            return link.url  # never in a card (digest only shows web links), and the table only holds web links
        key = (link.paper_id, str(link_kind(link.kind).value), link.url)
        number = self.numbers.get(key)
        if number is None:
            number = self.numbers[key] = self.next
            self.next += 1
            self.new.append(TrackedLink(number=number, paper_id=key[0], kind=key[1], url=key[2]))
        return click_url(token=self.mark, number=number)


def emailed_body(edition: Edition) -> EditionBody:
    """The body to email: tracked links (about three queries the first time, one after), plain without tracking."""
    if not settings.TRACK_CLICKS:
        return edition_body(edition)
    for _ in range(_ATTEMPTS):
        numbering = _Numbering(stored=edition_links_stored(edition_id=edition.pk), mark=f"nlclk{secrets.token_hex(8)}")
        body = edition_body(edition, wrap_link=numbering, recipient_mark=numbering.mark)
        if not numbering.new:
            return body
        table = edition_links_record(edition_id=edition.pk, links=numbering.new)
        if all(table.get(link.number) == link for link in numbering.new):
            return body
        logger.info("edition %s: another rendering numbered the same new links; rendering again", edition.pk)
    raise LinkTableConflict(f"edition {edition.pk}: the link table kept changing while rendering")
