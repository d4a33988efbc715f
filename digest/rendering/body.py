"""The shared body of an edition: rendered once per edition, with slots for what differs per reader.

``edition_body(edition)`` renders the templates, inlines CSS and wraps long lines once, leaving named slots for the
keyword section and the footer links. Filling them (``subscribers.messages``) needs no query, no template and no CSS
work per recipient, so one process builds thousands of messages a second.

A sender may pass ``wrap_link``: every paper link a card shows (``EntryView.url`` and ``EntryView.links``, wherever
the card, its "For you" line or the keyword section repeats them) is then the href it returns for that link, and
``recipient_mark`` names a string in those hrefs the sender replaces per recipient in the finished message. This
module knows nothing of what the wrapping is for (``subscribers.clicks`` uses it for click tracking).
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import css_inline
from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse

from digest.models import Edition, EditionEntry, Frequency, Paper
from digest.rendering.slots import Slots, Slotted, fill_paragraph, trim_text, wrap_long_lines
from digest.rendering.tex import readable
from digest.trending import default_subject

MAX_AUTHORS = 6
# Links under a card at most (code, project, page, PDF and what the source page listed besides).
MAX_LINKS = 7
TLDR_CHARS = 300
# Keys of ``Paper.links`` a source or the lookup writes: (kind, label) of each; any other key is an "other" link.
_KNOWN_LINKS = {
    "hf": ("page", "Paper page"),
    "arxiv": ("arxiv", "arXiv"),
    "pdf": ("pdf", "PDF"),
    "code": ("code", "Code"),
    "project": ("project", "Project page"),
}

_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


def _safe_url(url: object) -> str | None:
    # Links come from ingested pages: only web links, so a "javascript:" href cannot reach a reader.
    if isinstance(url, str) and url.startswith(("https://", "http://")) and len(url) < 500 and " " not in url:
        return url
    return None


@dataclass(frozen=True, slots=True)
class EntryView:
    """What the templates show of one entry; text only, escaped by the templates.

    Every link of a card is here, never built in a template: ``url`` (the title's: the arXiv page, or an arXiv
    title search until the paper is resolved) and ``links`` (label, URL), with ``link_kinds`` naming what each of
    ``links`` is ("page", "arxiv", "pdf", "code", "project" or "other"), so a sender may rewrite them all.
    """

    position: int
    paper_id: int
    title: str
    title_wrapped: str
    abstract: str
    abstract_wrapped: str
    full_abstract: str
    search_text: str
    authors: str
    authors_wrapped: str
    tldr: str
    url: str | None
    links: tuple[tuple[str, str], ...]
    link_kinds: tuple[str, ...]
    upvotes: int
    pinned: bool


def compact_count(n: int) -> str:
    """A count as a reader skims it: 318, 1.2k, 12k, 1.5M."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= size:
            value = n / size
            shown = f"{value:.1f}".removesuffix(".0") if value < 10 else f"{value:.0f}"
            return f"{shown}{suffix}"
    return str(n)


def tldr_paragraph(tldr: str) -> str:
    """The TL;DR line of the text part (``tldr`` as it is shown: plain, or with its matches marked)."""
    return fill_paragraph(f"TL;DR: {tldr}")


def _paper_links(paper: Paper) -> list[tuple[str, str, str]]:
    """(kind, label, URL) of the links under a card: code and project page first, then the paper's pages (its
    arXiv page is the title's link)."""
    links: list[tuple[str, str, str]] = []
    code = _safe_url(paper.code_url)
    if code:
        stars = f" · {compact_count(paper.github_stars)} ★" if paper.github_stars else ""
        links.append(("code", f"Code{stars}", code))
    project = _safe_url(paper.project_page)
    if project:
        links.append(("project", "Project page", project))
    if paper.arxiv_id:
        comments = paper.num_comments or 0
        # The paper's page on the source is where its comments are: the count says why a reader might go there.
        page_label = f"{comments} comment{'s' if comments != 1 else ''}" if comments else "Paper page"
        links += [
            ("page", page_label, f"https://huggingface.co/papers/{paper.arxiv_id}"),
            ("pdf", "PDF", f"https://arxiv.org/pdf/{paper.arxiv_id}"),
        ]
    # The title links to the arXiv page already (``Paper.link_url``): not a second time under it.
    known = {url for _, _, url in links} | {paper.link_url}
    for key, value in sorted((paper.links or {}).items()):
        url = _safe_url(value)
        if url and url not in known and len(links) < MAX_LINKS:
            kind, label = _KNOWN_LINKS.get(key) or ("other", str(key).replace("_", " ").capitalize()[:30])
            links.append((kind, label, url))
            known.add(url)
    return links


@dataclass(frozen=True, slots=True)
class PaperLink:
    """One paper link as a card shows it, before a sender wraps it."""

    paper_id: int
    kind: str  # "title" for the title's link, else its ``EntryView.link_kinds`` ("page", "pdf", "code", ...)
    url: str


LinkWrapper = Callable[[PaperLink], str]


def wrap_links(view: EntryView, wrap: LinkWrapper) -> EntryView:
    """``view`` with each of its paper links replaced by the href ``wrap`` gives for it."""
    url = wrap(PaperLink(view.paper_id, "title", view.url)) if view.url else view.url
    links = tuple(
        (label, wrap(PaperLink(view.paper_id, kind, target)))
        for (label, target), kind in zip(view.links, view.link_kinds, strict=True)
    )
    return dataclasses.replace(view, url=url, links=links)


def _entry_view(entry: EditionEntry) -> EntryView:
    paper = entry.paper
    links = _paper_links(paper)
    authors = [str(a) for a in (paper.authors or []) if str(a).strip()]
    authors_line = ", ".join(authors[:MAX_AUTHORS]) + (" et al." if len(authors) > MAX_AUTHORS else "")
    full_abstract = " ".join(readable(paper.abstract).split())
    abstract = trim_text(full_abstract)
    tldr = trim_text(paper.tldr, TLDR_CHARS)
    title = " ".join(paper.title.split())
    return EntryView(
        position=entry.position,
        paper_id=paper.pk,
        title=title,
        title_wrapped=fill_paragraph(paper.title),
        abstract=abstract,
        abstract_wrapped=fill_paragraph(abstract),
        full_abstract=full_abstract,
        search_text=f"{paper.title}\n{paper.abstract}",
        authors=authors_line,
        authors_wrapped=fill_paragraph(authors_line),
        tldr=tldr,
        url=_safe_url(paper.link_url) if title else None,
        links=tuple((label, url) for _, label, url in links),
        link_kinds=tuple(kind for kind, _, _ in links),
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


def _inline_fragments(fragments: Mapping[str, str], slot: Slots) -> dict[str, str]:
    """Inline many HTML fragments with the edition's stylesheet in one pass, and cut them apart again.

    Every fragment is block content (paragraphs or a table of its own), so the HTML5 parser leaves it in place.
    """
    css = render_to_string("emails/edition/style.css")
    parts = [f"<html><head><style>{css}</style></head><body>"]
    for name, fragment in fragments.items():
        parts.append(f"<div>{slot['begin_' + name]}</div><div>{fragment}</div><div>{slot['end_' + name]}</div>")
    parts.append("</body></html>")
    inlined = inline_css("".join(parts))
    out: dict[str, str] = {}
    for name in fragments:
        begin, end = re.escape(slot["begin_" + name]), re.escape(slot["end_" + name])
        match = re.search(rf"<div>{begin}</div><div>\s*(.*?)\s*</div><div>{end}</div>", inlined, re.DOTALL)
        if match is None:
            raise RuntimeError(f"fragment {name!r} was lost while inlining CSS")
        out[name] = match.group(1)
    return out


# --- The per-edition body -----------------------------------------------------------------------------------

# The per-paper parts of a card: ``title``, ``tldr`` and ``abstract`` (highlighted in the keyword section), ``why``
# (the sentence a keyword matched) and ``actions`` (a reader's own links for the paper; empty unless a sender fills
# it). A card has no ``tldr`` or ``abstract`` slot when the paper has none.
CARD_SLOTS = frozenset({"title", "tldr", "abstract", "why", "actions"})
# The per-reader parts of the email; besides these, one ``card_<position>`` slot per paper.
BODY_SLOTS = frozenset({"preheader", "foryou", "keywords", "footer"})
TEXT_SLOTS = BODY_SLOTS - {"preheader"}
# Lines of invisible characters after the preheader, so the inbox preview stops there.
PREHEADER_PAD_LINES = 6
PREHEADER_TITLE_CHARS = 150


@dataclass(frozen=True, slots=True)
class EntryFragment:
    """One paper's card, with slots for its title, abstract, matched sentence and the reader's own links.

    ``html_values`` / ``text_values`` fill them as the day's list shows them (nothing highlighted, no reader
    links); ``default_html`` / ``default_text`` are the cards filled that way, shared by every reader.
    """

    view: EntryView
    html: Slotted
    text: Slotted
    html_values: dict[str, str]
    text_values: dict[str, str]
    default_html: str
    default_text: str

    @property
    def slot(self) -> str:
        """The name of this card's slot in the body."""
        return f"card_{self.view.position}"


@dataclass(slots=True)
class EditionBody:
    """Everything shared by all recipients of one edition, rendered once.

    ``html`` and ``text`` hold the per-reader slots (``BODY_SLOTS`` and one ``card_<position>`` per paper);
    ``html_defaults`` / ``text_defaults`` fill every one of them but ``keywords`` and ``footer`` as they are for a
    reader with nothing of their own, so a sender starts from a copy and replaces what differs.
    """

    edition_id: int
    date_label: str
    frequency: str
    subject: str
    preheader: str
    archive_url: str
    html: Slotted
    text: Slotted
    html_defaults: dict[str, str]
    text_defaults: dict[str, str]
    footer_html: Slotted  # slots: preferences_url, unsubscribe_url
    footer_text: Slotted
    archive_footer_html: str
    archive_footer_text: str
    keywords_open_html: Slotted  # slot: keywords
    keywords_open_text: Slotted
    keywords_none_html: Slotted
    keywords_none_text: Slotted
    why_html: Slotted  # slot: sentences (the matched sentences, highlighted)
    why_text: Slotted
    entries: tuple[EntryFragment, ...]
    tags: tuple[str, ...] = ()
    # A string inside the paper links' hrefs that the sender replaces per recipient ("" when links are plain).
    recipient_mark: str = ""
    # Keyword sections already rendered for this edition, per distinct keyword set (see rendering.keywords).
    keyword_cache: OrderedDict[tuple[str, ...], tuple[str, str]] = field(default_factory=OrderedDict)


def archive_url(edition: Edition) -> str:
    if edition.frequency == Frequency.WEEKLY:
        path = reverse("digest:weekly_edition", kwargs={"day": edition.date.isoformat()})
    else:
        path = reverse("digest:edition", kwargs={"day": edition.date.isoformat()})
    return f"{settings.SITE_URL}{path}"


def edition_subject(edition: Edition) -> str:
    # One line whatever a curator pasted: a subject is a header.
    return " ".join(edition.subject.split()) or default_subject(date=edition.date, frequency=edition.frequency)


def edition_preheader(views: list[EntryView]) -> str:
    """What the inbox shows after the subject: the top paper and how many follow it (plain text)."""
    if not views:
        return "No papers were listed in this period."
    top = trim_text(views[0].title, PREHEADER_TITLE_CHARS)
    rest = len(views) - 1
    return f"#1 {top}" + (f", and {rest} more paper{'s' if rest != 1 else ''}" if rest else "")


def _render_pair(name: str, context: dict[str, Any]) -> tuple[str, str]:
    return render_to_string(f"emails/edition/{name}.html", context), render_to_string(
        f"emails/edition/{name}.txt", context
    )


def _entry_fragment(view: EntryView, html_card: str, text_card: str, slot: Slots) -> EntryFragment:
    html_split, text_split = slot.split(html_card), slot.split(text_card)
    expected = CARD_SLOTS - {name for name in ("tldr", "abstract") if not getattr(view, name)}
    if html_split.slots != expected or text_split.slots != expected:
        raise RuntimeError(f"card templates lost a slot: {sorted(html_split.slots)} / {sorted(text_split.slots)}")
    html_values = {
        "title": html.escape(view.title),
        "tldr": html.escape(view.tldr),
        "abstract": html.escape(view.abstract),
        "why": "",
        "actions": "",
    }
    text_values = {
        "title": view.title_wrapped,
        "tldr": tldr_paragraph(view.tldr),
        "abstract": view.abstract_wrapped,
        "why": "",
        "actions": "",
    }
    return EntryFragment(
        view=view,
        html=html_split,
        text=text_split,
        html_values=html_values,
        text_values=text_values,
        default_html=wrap_long_lines(html_split.fill(html_values)),
        default_text=text_split.fill(text_values),
    )


def edition_body(edition: Edition, *, wrap_link: LinkWrapper | None = None, recipient_mark: str = "") -> EditionBody:
    """Render the shared parts of ``edition`` once: about two queries and two CSS-inlining passes.

    ``wrap_link`` gives the href of each paper link (plain links without it); ``recipient_mark`` is what a sender
    replaces in them per recipient.
    """
    slot = Slots()
    views = [_entry_view(entry) for entry in _entries(edition)]
    if wrap_link is not None:
        views = [wrap_links(view, wrap_link) for view in views]
    date_label = f"{edition.date:%A} {edition.date.day} {edition.date:%B %Y}"
    weekly = edition.frequency == Frequency.WEEKLY
    context: dict[str, Any] = {
        "slot": slot,
        "name": settings.NEWSLETTER_NAME,
        "subject": edition_subject(edition),
        "dateline": f"The week to {date_label}" if weekly else date_label,
        "list_title": "The week's most-discussed papers" if weekly else "Today's trending papers",
        "intro": edition.intro.strip(),
        "archive_url": archive_url(edition),
        "site_url": settings.SITE_URL,
        "subscribe_url": f"{settings.SITE_URL}/",
        "archive_index_url": f"{settings.SITE_URL}{reverse('digest:edition_list')}",
        "preheader_pad": range(PREHEADER_PAD_LINES),
    }
    html_doc = wrap_long_lines(inline_css(render_to_string("emails/edition/body.html", context)))
    text_doc: str = render_to_string("emails/edition/body.txt", context)

    fragments: dict[str, str] = {"browser": render_to_string("emails/edition/browser.html", context)}
    texts: dict[str, str] = {"browser": f"View in your browser: {context['archive_url']}"}
    for name, template, extra in (
        ("footer", "footer", {"personal": True}),
        ("archive_footer", "footer", {"personal": False}),
        ("keywords_open", "keywords_open", {"keywords": slot.keywords}),
        ("keywords_none", "keywords_none", {"keywords": slot.keywords}),
        ("empty", "empty", {}),
        ("why", "why", {}),
    ):
        fragments[name], texts[name] = _render_pair(template, {**context, **extra})
    for view in views:
        card_context = {**context, "entry": view}
        fragments[f"card_{view.position}"], texts[f"card_{view.position}"] = _render_pair("card", card_context)
    inlined = {name: wrap_long_lines(value) for name, value in _inline_fragments(fragments, slot).items()}
    entries = tuple(
        _entry_fragment(view, inlined[f"card_{view.position}"], texts[f"card_{view.position}"], slot) for view in views
    )

    # Filled now, the same for everyone: the "view in browser" line, and where the cards go (one slot each).
    html_cards = "\n".join(slot[entry.slot] for entry in entries) if entries else inlined["empty"]
    text_cards = "\n".join(slot[entry.slot] for entry in entries) if entries else texts["empty"]
    html_doc = html_doc.replace(slot.browser, inlined["browser"]).replace(slot.cards, html_cards)
    text_doc = text_doc.replace(slot.browser, texts["browser"]).replace(slot.cards, text_cards)
    preheader = edition_preheader(views)
    body = EditionBody(
        edition_id=edition.pk,
        date_label=date_label,
        frequency=edition.frequency,
        subject=edition_subject(edition),
        preheader=preheader,
        archive_url=context["archive_url"],
        html=slot.split(html_doc),
        text=slot.split(text_doc),
        html_defaults={
            "preheader": html.escape(preheader),
            "foryou": "",
            **{entry.slot: entry.default_html for entry in entries},
        },
        text_defaults={"foryou": "", **{entry.slot: entry.default_text for entry in entries}},
        footer_html=slot.split(inlined["footer"]),
        footer_text=slot.split(texts["footer"].strip()),
        archive_footer_html=inlined["archive_footer"],
        archive_footer_text=texts["archive_footer"].strip(),
        keywords_open_html=slot.split(inlined["keywords_open"]),
        keywords_open_text=slot.split(texts["keywords_open"]),
        keywords_none_html=slot.split(inlined["keywords_none"]),
        keywords_none_text=slot.split(texts["keywords_none"]),
        why_html=slot.split(inlined["why"]),
        why_text=slot.split(texts["why"].strip()),
        entries=entries,
        tags=("edition", f"edition-{edition.frequency}"),
        recipient_mark=recipient_mark,
    )
    cards = {entry.slot for entry in entries}
    if body.html.slots != BODY_SLOTS | cards or body.text.slots != TEXT_SLOTS | cards:
        raise RuntimeError(f"edition templates lost a slot: {sorted(body.html.slots)} / {sorted(body.text.slots)}")
    return body
