"""The edition email: rendered once per edition, personalised per recipient by string substitution.

``edition_body(edition)`` renders templates, inlines CSS and wraps long lines once, leaving named slots for what
differs per recipient (the keyword section and the footer links). ``edition_message(body, subscriber)`` fills the
slots: no query, no template, no CSS work per recipient, so one process builds thousands of messages a second.

Slots are marked with tokens that carry a random nonce drawn per rendering, so text from a paper (titles come from
the internet) can never forge a slot and pull in another reader's links.
"""

from __future__ import annotations

import html
import re
import secrets
import textwrap
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import css_inline
from anymail.message import AnymailMessage
from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse

from digest.models import Edition, EditionEntry, Frequency
from digest.trending import default_subject

# RFC 5322 caps lines at 998 octets; Django falls back to quoted-printable for a body with a longer line, which
# costs most of the MIME-building time. Wrap well below it, leaving room for the URLs and sections filled in later.
WRAP_AT = 760
ABSTRACT_CHARS = 420
MAX_AUTHORS = 6
MAX_KEYWORDS = 20
MAX_KEYWORD_LENGTH = 60
# Distinct keyword sets seen while sending one edition; a bound keeps a pathological list from holding memory.
KEYWORD_CACHE_SIZE = 4096

_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


class Recipient(Protocol):
    pk: int
    email: str
    keywords: list[str]
    token_key: str


# --- Slotted text -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Slotted:
    """Text split around named slots: ``parts`` alternate literal, slot name, literal, ..."""

    parts: tuple[str, ...]

    @property
    def slots(self) -> frozenset[str]:
        return frozenset(self.parts[1::2])

    def fill(self, values: Mapping[str, str]) -> str:
        parts = self.parts
        out = [parts[0]]
        for i in range(1, len(parts), 2):
            out.append(values[parts[i]])
            out.append(parts[i + 1])
        return "".join(out)


class _Slots:
    """The slot tokens for one rendering: ``slot.keywords`` in a template gives the token for "keywords"."""

    def __init__(self) -> None:
        self.nonce = secrets.token_hex(6)
        self.pattern = re.compile(rf"__nl{self.nonce}_([a-z0-9_]+?)__")

    def __getitem__(self, name: str) -> str:
        return f"__nl{self.nonce}_{name}__"

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def split(self, text: str) -> Slotted:
        return Slotted(tuple(self.pattern.split(text)))


# --- Shaping text -------------------------------------------------------------------------------------------


def wrap_long_lines(text: str, width: int = WRAP_AT) -> str:
    """Break every line longer than ``width`` at a space.

    In HTML a newline between words or attributes renders as the space it replaces (there is no ``<pre>`` in the
    edition), so this changes the bytes, not the page. A line with no space to break at is left alone.
    """
    if all(len(line) <= width for line in text.split("\n")):
        return text
    out: list[str] = []
    for line in text.split("\n"):
        while len(line) > width:
            cut = line.rfind(" ", 0, width)
            if cut <= 0:
                break
            out.append(line[:cut])
            line = line[cut + 1 :]
        out.append(line)
    return "\n".join(out)


def trim_text(text: str, limit: int = ABSTRACT_CHARS) -> str:
    """At most ``limit`` characters, cut at a word boundary, with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit].rstrip(" ,;:.") + "…"


def _fill(text: str) -> str:
    return textwrap.fill(text, width=76, break_long_words=False, break_on_hyphens=False)


def _safe_url(url: object) -> str | None:
    # Links come from ingested pages: only web links, so a "javascript:" href cannot reach a reader.
    if isinstance(url, str) and url.startswith(("https://", "http://")) and len(url) < 500 and " " not in url:
        return url
    return None


@dataclass(frozen=True, slots=True)
class EntryView:
    """What the templates show of one entry; text only, escaped by the templates."""

    position: int
    title: str
    title_wrapped: str
    abstract: str
    abstract_wrapped: str
    search_text: str
    authors: str
    authors_wrapped: str
    url: str | None
    links: tuple[tuple[str, str], ...]
    upvotes: int
    pinned: bool


def _entry_view(entry: EditionEntry) -> EntryView:
    paper = entry.paper
    links: list[tuple[str, str]] = []
    if paper.arxiv_id:
        links += [
            ("Paper page", f"https://huggingface.co/papers/{paper.arxiv_id}"),
            ("arXiv", f"https://arxiv.org/abs/{paper.arxiv_id}"),
            ("PDF", f"https://arxiv.org/pdf/{paper.arxiv_id}"),
        ]
    known = {url for _, url in links}
    for key, value in sorted((paper.links or {}).items()):
        url = _safe_url(value)
        if url and url not in known and len(links) < 5:
            links.append((str(key).replace("_", " ").capitalize()[:30], url))
            known.add(url)
    authors = [str(a) for a in (paper.authors or []) if str(a).strip()]
    authors_line = ", ".join(authors[:MAX_AUTHORS]) + (" et al." if len(authors) > MAX_AUTHORS else "")
    abstract = trim_text(paper.abstract)
    return EntryView(
        position=entry.position,
        title=" ".join(paper.title.split()),
        title_wrapped=_fill(paper.title),
        abstract=abstract,
        abstract_wrapped=_fill(abstract),
        search_text=f"{paper.title}\n{paper.abstract}",
        authors=authors_line,
        authors_wrapped=_fill(authors_line),
        url=links[0][1] if links else None,
        links=tuple(links),
        upvotes=max(paper.upvotes, 0),
        pinned=entry.pinned,
    )


def _entries(edition: Edition) -> list[EditionEntry]:
    # Use the archive's prefetch when there is one, so a list of editions costs one query for all their entries.
    if "entries" in getattr(edition, "_prefetched_objects_cache", {}):
        return list(edition.entries.all())
    return list(edition.entries.select_related("paper").order_by("position"))


# --- CSS inlining -------------------------------------------------------------------------------------------


def inline_css(document: str) -> str:
    """Move the ``<style>`` rules onto the elements (Gmail and Outlook ignore most stylesheets).

    The same inliner as ``subscribers.emails``. ``@media`` rules (dark mode) cannot be inlined and stay in a
    ``<style>`` block for the clients that honour them; classes stay so those rules still match.
    """
    return _INLINER.inline(document)


def _inline_fragments(fragments: Mapping[str, str], slot: _Slots, *, rows: frozenset[str]) -> dict[str, str]:
    """Inline many HTML fragments with the edition's stylesheet in one pass, and cut them apart again.

    Table rows (the names in ``rows``) go inside a table of their own: an HTML5 parser moves anything it finds
    between rows out of the table, so that is the only place they survive as they are.
    """
    css = render_to_string("emails/edition/style.css")
    parts = [f"<html><head><style>{css}</style></head><body>"]
    for name, fragment in fragments.items():
        inner = f"<table><tbody>{fragment}</tbody></table>" if name in rows else fragment
        parts.append(f"<div>{slot['begin_' + name]}</div><div>{inner}</div><div>{slot['end_' + name]}</div>")
    parts.append("</body></html>")
    inlined = inline_css("".join(parts))
    out: dict[str, str] = {}
    for name in fragments:
        inner = r"<table><tbody>\s*(.*?)\s*</tbody></table>" if name in rows else r"\s*(.*?)\s*"
        begin, end = re.escape(slot["begin_" + name]), re.escape(slot["end_" + name])
        pattern = rf"<div>{begin}</div><div>{inner}</div><div>{end}</div>"
        match = re.search(pattern, inlined, re.DOTALL)
        if match is None:
            raise RuntimeError(f"fragment {name!r} was lost while inlining CSS")
        out[name] = match.group(1)
    return out


# --- The per-edition body -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryFragment:
    """One entry as a keyword-section card, with slots for its highlighted title and abstract."""

    view: EntryView
    html: Slotted
    text: Slotted


@dataclass(slots=True)
class EditionBody:
    """Everything shared by all recipients of one edition, rendered once."""

    edition_id: int
    date_label: str
    frequency: str
    subject: str
    archive_url: str
    html: Slotted  # slots: keywords, footer
    text: Slotted
    footer_html: Slotted  # slots: preferences_url, unsubscribe_url
    footer_text: Slotted
    archive_footer_html: str
    archive_footer_text: str
    keywords_open_html: Slotted  # slot: keywords
    keywords_open_text: Slotted
    keywords_none_html: Slotted
    keywords_none_text: Slotted
    entries: tuple[EntryFragment, ...]
    tags: tuple[str, ...] = ()
    _keyword_cache: OrderedDict[tuple[str, ...], tuple[str, str]] = field(default_factory=OrderedDict)


def archive_url(edition: Edition) -> str:
    if edition.frequency == Frequency.WEEKLY:
        path = reverse("digest:weekly_edition", kwargs={"day": edition.date.isoformat()})
    else:
        path = reverse("digest:edition", kwargs={"day": edition.date.isoformat()})
    return f"{settings.SITE_URL}{path}"


def edition_subject(edition: Edition) -> str:
    # One line whatever a curator pasted: a subject is a header.
    return " ".join(edition.subject.split()) or default_subject(date=edition.date, frequency=edition.frequency)


def _render_pair(name: str, context: dict[str, Any]) -> tuple[str, str]:
    return render_to_string(f"emails/edition/{name}.html", context), render_to_string(
        f"emails/edition/{name}.txt", context
    )


def edition_body(edition: Edition) -> EditionBody:
    """Render the shared parts of ``edition`` once: about two queries and two CSS-inlining passes."""
    slot = _Slots()
    views = [_entry_view(entry) for entry in _entries(edition)]
    date_label = f"{edition.date:%A} {edition.date.day} {edition.date:%B %Y}"
    weekly = edition.frequency == Frequency.WEEKLY
    context: dict[str, Any] = {
        "slot": slot,
        "name": settings.NEWSLETTER_NAME,
        "subject": edition_subject(edition),
        "dateline": f"The week to {date_label}" if weekly else date_label,
        "list_title": "The week's most-discussed papers" if weekly else "Today's trending papers",
        "intro": edition.intro.strip(),
        "entries": views,
        "archive_url": archive_url(edition),
        "site_url": settings.SITE_URL,
        "subscribe_url": f"{settings.SITE_URL}/",
        "archive_index_url": f"{settings.SITE_URL}{reverse('digest:edition_list')}",
    }
    html_doc = wrap_long_lines(inline_css(render_to_string("emails/edition/body.html", context)))
    text_doc = render_to_string("emails/edition/body.txt", context)

    fragments: dict[str, str] = {"browser": render_to_string("emails/edition/browser.html", context)}
    texts: dict[str, str] = {"browser": f"View in your browser: {context['archive_url']}"}
    for name, template, extra in (
        ("footer", "footer", {"personal": True}),
        ("archive_footer", "footer", {"personal": False}),
        ("keywords_open", "keywords_open", {"keywords": slot.keywords}),
        ("keywords_none", "keywords_none", {"keywords": slot.keywords}),
    ):
        fragments[name], texts[name] = _render_pair(template, {**context, **extra})
    card_slots = {
        "title_html": slot.title,
        "abstract_html": slot.abstract,
        "title_text": slot.title,
        "abstract_text": slot.abstract,
    }
    for view in views:
        card_context = {**context, **card_slots, "entry": view}
        fragments[f"card_{view.position}"], texts[f"card_{view.position}"] = _render_pair("card", card_context)
    rows = frozenset(name for name in fragments if name.startswith(("card_", "keywords_")))
    inlined = {name: wrap_long_lines(value) for name, value in _inline_fragments(fragments, slot, rows=rows).items()}

    # The "view in browser" line is the same for everyone; filling it now leaves only per-recipient slots.
    html_body = slot.split(html_doc.replace(slot.browser, inlined["browser"]))
    text_body = slot.split(text_doc.replace(slot.browser, texts["browser"]))
    body = EditionBody(
        edition_id=edition.pk,
        date_label=date_label,
        frequency=edition.frequency,
        subject=edition_subject(edition),
        archive_url=context["archive_url"],
        html=html_body,
        text=text_body,
        footer_html=slot.split(inlined["footer"]),
        footer_text=slot.split(texts["footer"].strip()),
        archive_footer_html=inlined["archive_footer"],
        archive_footer_text=texts["archive_footer"].strip(),
        keywords_open_html=slot.split(inlined["keywords_open"]),
        keywords_open_text=slot.split(texts["keywords_open"]),
        keywords_none_html=slot.split(inlined["keywords_none"]),
        keywords_none_text=slot.split(texts["keywords_none"]),
        entries=tuple(
            EntryFragment(
                view=view,
                html=slot.split(inlined[f"card_{view.position}"]),
                text=slot.split(texts[f"card_{view.position}"]),
            )
            for view in views
        ),
        tags=("edition", f"edition-{edition.frequency}"),
    )
    if body.html.slots != {"keywords", "footer"} or body.text.slots != {"keywords", "footer"}:
        raise RuntimeError(f"edition templates lost a slot: {sorted(body.html.slots)} / {sorted(body.text.slots)}")
    return body


# --- Keywords -----------------------------------------------------------------------------------------------


def normalize_keywords(keywords: Iterable[object]) -> tuple[str, ...]:
    """Distinct, lower-cased, trimmed keywords in a stable order: the cache key of a keyword section."""
    seen: set[str] = set()
    for keyword in keywords or ():
        if not isinstance(keyword, str):
            continue
        value = " ".join(keyword.split()).lower()[:MAX_KEYWORD_LENGTH]
        if value:
            seen.add(value)
    return tuple(sorted(seen))[:MAX_KEYWORDS]


def keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first so "language model" wins over "language"; anchored at a word start so "rag" misses "storage".
    alternatives = "|".join(re.escape(k) for k in sorted(keywords, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})", re.IGNORECASE)


# The section sits in a row of the edition's layout table, as a table of its own rows.
_SECTION_OPEN = '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">'
# The highlight is added per keyword set, after the CSS pass, so it carries its style itself (same as .tp-hl).
HIGHLIGHT_STYLE = "background-color:#fde047; color:#18181b; font-weight:bold"


def highlight_html(text: str, pattern: re.Pattern[str]) -> str:
    """``text`` escaped, with each match wrapped in a highlight. Matches are found in the text, not in its HTML."""
    out: list[str] = []
    last = 0
    for match in pattern.finditer(text):
        out.append(html.escape(text[last : match.start()]))
        out.append(f'<mark class="tp-hl" style="{HIGHLIGHT_STYLE}">{html.escape(match.group(0))}</mark>')
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def highlight_text(text: str, pattern: re.Pattern[str]) -> str:
    return pattern.sub(lambda m: f"*{m.group(0)}*", text)


def keyword_section(body: EditionBody, keywords: Iterable[object]) -> tuple[str, str]:
    """(html, text) of the keyword section for this keyword set: matching papers first, matches highlighted.

    Cached on the body per distinct keyword set, since many readers share theirs.
    """
    key = normalize_keywords(keywords)
    if not key:
        return "", ""
    cache = body._keyword_cache
    cached = cache.get(key)
    if cached is not None:
        cache.move_to_end(key)
        return cached
    pattern = keyword_pattern(key)
    shown = html.escape(", ".join(key))
    html_parts: list[str] = []
    text_parts: list[str] = []
    for fragment in body.entries:
        view = fragment.view
        if not pattern.search(view.search_text):
            continue
        html_parts.append(
            fragment.html.fill(
                {"title": highlight_html(view.title, pattern), "abstract": highlight_html(view.abstract, pattern)}
            )
        )
        title_text = _fill(highlight_text(view.title, pattern))
        abstract_text = _fill(highlight_text(view.abstract, pattern))
        text_parts.append(fragment.text.fill({"title": title_text, "abstract": abstract_text}))
    if html_parts:
        section_html = body.keywords_open_html.fill({"keywords": shown}) + "\n" + "\n".join(html_parts)
        section_html = f"{_SECTION_OPEN}\n{section_html}\n</table>"
        section_text = body.keywords_open_text.fill({"keywords": ", ".join(key)}) + "\n" + "\n".join(text_parts) + "\n"
    else:
        section_html = f"{_SECTION_OPEN}\n{body.keywords_none_html.fill({'keywords': shown})}\n</table>"
        section_text = body.keywords_none_text.fill({"keywords": ", ".join(key)})
    result = (wrap_long_lines(section_html), section_text)
    cache[key] = result
    if len(cache) > KEYWORD_CACHE_SIZE:
        cache.popitem(last=False)
    return result


# --- Per recipient ------------------------------------------------------------------------------------------


def edition_message(body: EditionBody, subscriber: Recipient, *, connection: Any = None) -> AnymailMessage:
    """The edition for one subscriber, ready to send: no query and no template rendering here."""
    from subscribers.emails import RenderedEmail, build_message
    from subscribers.links import subscribed_links

    personal = subscribed_links(subscriber)  # one signature per purpose, the URL paths reversed once per process
    links = {"preferences_url": personal.preferences_url, "unsubscribe_url": personal.unsubscribe_url}
    keywords_html, keywords_text = keyword_section(body, subscriber.keywords)
    rendered = RenderedEmail(
        subject=body.subject,
        text=body.text.fill({"keywords": keywords_text, "footer": body.footer_text.fill(links)}),
        html=body.html.fill({"keywords": keywords_html, "footer": body.footer_html.fill(links)}),
    )
    return build_message(
        rendered=rendered,
        to=subscriber.email,
        headers=personal.list_unsubscribe_headers,
        tags=list(body.tags),
        # Strings, because several ESPs hand metadata back to webhooks as strings whatever was sent.
        metadata={"edition_id": str(body.edition_id), "subscriber_id": str(subscriber.pk)},
        connection=connection,
    )


# --- Archive and snapshot -----------------------------------------------------------------------------------

_BODY_RE = re.compile(r"<body[^>]*>(.*)</body>", re.DOTALL | re.IGNORECASE)
_STYLE_RE = re.compile(r"<style[^>]*>.*?</style>", re.DOTALL | re.IGNORECASE)


def edition_public_parts(body: EditionBody) -> tuple[str, str]:
    """(html document, text) of the edition with no personal links: what the archive and the snapshot show."""
    html_doc = body.html.fill({"keywords": "", "footer": body.archive_footer_html})
    text = body.text.fill({"keywords": "", "footer": body.archive_footer_text})
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


def edition_archive_text(edition: Edition) -> str:
    return edition.rendered_text or edition_public_parts(edition_body(edition))[1]
