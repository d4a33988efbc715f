"""The edition email's shared parts, rendered once per edition; the per-reader fill lives in ``subscribers.messages``.

- ``slots``: slotted text (a nonce per rendering, so paper text cannot forge a slot) and line shaping;
- ``body``: ``edition_body(edition)``, the templates rendered, CSS inlined and long lines wrapped once;
- ``keywords``: a reader's keywords, cleaned, normalised and shown as the edition's keyword section;
- ``matches``: the abstract's sentence a keyword matched past the excerpt (a keyword-section card's "why" line);
- ``tex``: an abstract's leftover TeX markup shown as the text it wraps (excerpts and matched sentences);
- ``archive``: the edition without personal links, for the web archive and the snapshot taken when sending starts.
"""

from __future__ import annotations

from digest.rendering.archive import (
    ArchivePage,
    edition_archive_html,
    edition_archive_page,
    edition_public_parts,
    edition_snapshot,
)
from digest.rendering.body import EditionBody, archive_url, edition_body, edition_subject
from digest.rendering.keywords import clean_keywords, keyword_section, normalize_keywords
from digest.rendering.slots import wrap_long_lines

__all__ = [
    "ArchivePage",
    "EditionBody",
    "archive_url",
    "clean_keywords",
    "edition_archive_html",
    "edition_archive_page",
    "edition_body",
    "edition_public_parts",
    "edition_snapshot",
    "edition_subject",
    "keyword_section",
    "normalize_keywords",
    "wrap_long_lines",
]
