"""The edition without personal links: the snapshot stored when sending starts, and the web archive's page of it.

The snapshot is the email as the first recipients got it. The archive is a page of the site, not that email: it
shows the same intro, list and cards, cut out of the snapshot and stripped of everything that belongs to an inbox
(the preheader, the "view in browser" line, the masthead, the subscriber footer) and of the email's own styles
(inline, dark-mode rules, layout tables), so the site's stylesheet lays it out in the site's light or dark scheme.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bs4 import BeautifulSoup, Comment, Tag

from digest.models import Edition
from digest.rendering.body import EditionBody, edition_body

# What only an inbox needs: the web page has its own header, title and subscribe call to action.
_EMAIL_ONLY = (".tp-preheader", ".tp-browser", ".tp-footer")
# Attributes a site page keeps; style, width, cellpadding, role="presentation" and the like are the email's layout.
_KEPT_ATTRIBUTES = frozenset({"class", "href", "title", "lang", "dir", "alt", "src", "aria-label"})
# The preheader's padding: invisible characters after the summary that keep clients from previewing the body.
_PAD_RE = re.compile(r"[\u034f\u200c\u00a0\s]*[\u034f\u200c].*", re.DOTALL)

_BLANK_LINES_RE = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")


@dataclass(frozen=True, slots=True)
class ArchivePage:
    dateline: str  # "Saturday 22 March 2025", "The week to ..."
    summary: str  # the inbox preheader: "#1 <title>, and 9 more papers" (the page's description)
    content: str  # the intro, the list's title and the cards, as site markup


def edition_public_parts(body: EditionBody) -> tuple[str, str]:
    """(html document, text) of the edition with no personal links: what the archive and the snapshot show."""
    html_doc = body.html.fill({**body.html_defaults, "keywords": "", "footer": body.archive_footer_html})
    text = body.text.fill({**body.text_defaults, "keywords": "", "footer": body.archive_footer_text})
    return html_doc, text


def archive_page(html_doc: str) -> ArchivePage:
    """Cut the edition's content out of its email document (fresh or a snapshot) as site markup."""
    soup = BeautifulSoup(html_doc, "lxml")
    body = soup.body or soup
    preheader = body.select_one(".tp-preheader")
    summary = _PAD_RE.sub("", preheader.get_text()).strip() if preheader else ""
    dateline_tag = body.select_one(".tp-dateline")
    dateline = dateline_tag.get_text(" ", strip=True) if dateline_tag else ""
    # The masthead's cell (name, dateline, "view in browser"): the page says these in its own header.
    masthead = body.select_one(".tp-masthead")
    if masthead is not None:
        cell = masthead.find_parent("td")
        (cell or masthead).decompose()
    for node in body.find_all(string=lambda text: isinstance(text, Comment)):  # Outlook's ghost tables
        node.extract()
    for selector in _EMAIL_ONLY:
        for tag in body.select(selector):
            tag.decompose()
    for tag in body.find_all(["style", "script", "meta", "title"]):
        tag.decompose()
    for tag in body.find_all(True):
        tag.attrs = {name: value for name, value in tag.attrs.items() if name in _KEPT_ATTRIBUTES}
    # Layout tables become plain blocks: a cell keeps its classes as a <div>, the table rows around it go.
    for tag in body.find_all(["table", "tbody", "thead", "tr"]):
        tag.unwrap()
    for tag in body.find_all(["td", "th"]):
        tag.name = "div"
    for tag in reversed(body.find_all("div")):  # innermost first: emptied slots leave empty blocks around them
        if not tag.get_text(strip=True) and not tag.find(["img", "a"]):
            tag.decompose()
    content = body.decode_contents() if isinstance(body, Tag) else str(body)
    # The removed parts leave runs of blank lines (no <pre> in an email: whitespace between blocks is free).
    content = _BLANK_LINES_RE.sub("\n", content)
    return ArchivePage(dateline=dateline, summary=summary, content=content.strip())


def edition_snapshot(edition: Edition, *, save: bool = True) -> Edition:
    """Store the public rendering on the edition, as sent; the archive shows it from then on.

    The sender calls this when an edition starts sending. An existing snapshot is kept, so a resumed send and the
    archive keep showing what the first recipients got.
    """
    if edition.rendered_html:
        return edition
    edition.rendered_html, edition.rendered_text = edition_public_parts(edition_body(edition))
    if save:
        Edition.objects.filter(pk=edition.pk, rendered_html="").update(
            rendered_html=edition.rendered_html, rendered_text=edition.rendered_text
        )
    return edition


def edition_archive_page(edition: Edition) -> ArchivePage:
    """The edition as the web archive shows it: from the snapshot when it was sent, else rendered now."""
    return archive_page(edition.rendered_html or edition_public_parts(edition_body(edition))[0])


def edition_archive_html(edition: Edition) -> str:
    """The archive page's content (intro, list title, cards) as site markup."""
    return edition_archive_page(edition).content
