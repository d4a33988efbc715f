"""The edition without personal links: what the web archive shows and the snapshot stored when sending starts."""

from __future__ import annotations

import re

from digest.models import Edition
from digest.rendering.body import EditionBody, edition_body

_BODY_RE = re.compile(r"<body[^>]*>(.*)</body>", re.DOTALL | re.IGNORECASE)
_STYLE_RE = re.compile(r"<style[^>]*>.*?</style>", re.DOTALL | re.IGNORECASE)


def edition_public_parts(body: EditionBody) -> tuple[str, str]:
    """(html document, text) of the edition with no personal links: what the archive and the snapshot show."""
    html_doc = body.html.fill({**body.html_defaults, "keywords": "", "footer": body.archive_footer_html})
    text = body.text.fill({**body.text_defaults, "keywords": "", "footer": body.archive_footer_text})
    return html_doc, text


def archive_fragment(html_doc: str) -> str:
    """The part of the email document a web page can embed: the body's content plus the dark-mode rules."""
    styles = "\n".join(_STYLE_RE.findall(html_doc))
    match = _BODY_RE.search(html_doc)
    return styles + "\n" + (match.group(1) if match else html_doc)


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


def edition_archive_html(edition: Edition) -> str:
    """The edition as an HTML fragment for the web archive: the snapshot when it was sent, else rendered now."""
    html_doc = edition.rendered_html or edition_public_parts(edition_body(edition))[0]
    return archive_fragment(html_doc)
