"""An edition's link table, and the tracked URLs that index into it.

A tracked link is ``{SITE_URL}/r/<recipient token>/<number>/``: the number picks one row of the edition's own
link table (``EditionLink``), written once when the edition is rendered for sending and never changed. The
redirect reads the table from this process's memory, else from the cache (Redis in production), else from the
database, so after the first click on an edition a redirect needs neither.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.urls import get_script_prefix, reverse

from subscribers.models import EditionLink

logger = logging.getLogger(__name__)

# Link tables kept in each process: an edition's table is ~50 short rows, and clicks cluster on recent editions.
PROCESS_TABLES = 256
CACHE_SECONDS = 90 * 24 * 3600
_ALLOWED_SCHEMES = ("https://", "http://")


@dataclass(frozen=True, slots=True)
class TrackedLink:
    number: int
    paper_id: int
    kind: str
    url: str


LinkTable = dict[int, TrackedLink]

_tables: OrderedDict[int, LinkTable] = OrderedDict()
_lock = threading.Lock()


def _cache_key(edition_id: int) -> str:
    return f"clicks:links:{edition_id}"


def _remember(edition_id: int, table: LinkTable) -> None:
    with _lock:
        _tables[edition_id] = table
        _tables.move_to_end(edition_id)
        while len(_tables) > PROCESS_TABLES:
            _tables.popitem(last=False)


def forget_link_tables() -> None:
    """Drop this process's copies (tests; a restart does the same)."""
    with _lock:
        _tables.clear()


def _from_database(edition_id: int) -> LinkTable:
    rows = EditionLink.objects.filter(edition_id=edition_id).values_list("number", "paper_id", "kind", "url")
    return {number: TrackedLink(number, paper_id, kind, url) for number, paper_id, kind, url in rows}


def edition_links_stored(*, edition_id: int) -> LinkTable:
    """The edition's link table as the database holds it now (one query; what a new rendering numbers after)."""
    return _from_database(edition_id)


def _cache_set(edition_id: int, table: LinkTable) -> None:
    try:
        cache.set(_cache_key(edition_id), table, CACHE_SECONDS)
    except Exception:  # the cache is an accelerator: a Redis outage must not break sending or redirects
        logger.warning("link table of edition %s not cached", edition_id, exc_info=True)


def edition_links_record(*, edition_id: int, links: Iterable[TrackedLink]) -> LinkTable:
    """Store an edition's link table and return it as stored.

    The first writer wins (another worker rendering the same edition writes the same rows; a row is never
    changed once a link to it may have been emailed), so what is returned may differ from ``links`` only if the
    edition's papers changed between two renderings.
    """
    rows = [
        EditionLink(edition_id=edition_id, number=link.number, paper_id=link.paper_id, kind=link.kind, url=link.url)
        for link in links
        if link.url.startswith(_ALLOWED_SCHEMES)
    ]
    EditionLink.objects.bulk_create(rows, ignore_conflicts=True)
    table = _from_database(edition_id)
    _remember(edition_id, table)
    _cache_set(edition_id, table)
    return table


def link_resolve(*, edition_id: int, number: int) -> TrackedLink | None:
    """What link ``number`` of the edition leads to, or None when the edition has no such link."""
    table = _tables.get(edition_id)
    if table is None:
        try:
            table = cache.get(_cache_key(edition_id))
        except Exception:
            logger.warning("link cache unreachable; reading edition %s from the database", edition_id, exc_info=True)
            table = None
        if table is None:
            table = _from_database(edition_id)
            if not table:
                return None  # not remembered: the edition may record its table later
            _cache_set(edition_id, table)
        _remember(edition_id, table)
    return table.get(number)


# --- The URLs ----------------------------------------------------------------------------------------------

_TOKEN_MARK, _NUMBER_MARK = "nl0clicktoken", 987654321
_PARTS: dict[tuple[str, str], tuple[str, str, str]] = {}


def _url_parts() -> tuple[str, str, str]:
    """(before the token, between token and number, after the number), reversed once per site URL and script prefix."""
    key = (settings.SITE_URL, get_script_prefix())
    parts = _PARTS.get(key)
    if parts is None:
        path = reverse("subscribers:click", kwargs={"token": _TOKEN_MARK, "number": _NUMBER_MARK})
        before, _, rest = path.partition(_TOKEN_MARK)
        middle, _, after = rest.partition(str(_NUMBER_MARK))
        parts = _PARTS[key] = (f"{settings.SITE_URL}{before}", middle, after)
    return parts


def click_url(*, token: str, number: int) -> str:
    before, middle, after = _url_parts()
    return f"{before}{token}{middle}{number}{after}"


def click_url_prefix() -> str:
    """Everything before the recipient token: the shared part of every tracked link of every email."""
    return _url_parts()[0]
