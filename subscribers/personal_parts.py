"""The per-reader parts of an edition email that subscribers own: "For you", "Still trending" lines, feedback links.

Rendered once per edition body (templates under ``emails/edition/personal/``, CSS inlined with the edition's own
stylesheet), as slotted fragments per paper; per recipient they are only filled: one HMAC per paper for the
feedback token, then string joins. ``fill_personal`` gives the values of the body's ``foryou`` and ``card_<n>``
slots for one reader.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from django.template.loader import render_to_string

from digest.models import Edition
from digest.rendering.body import EditionBody, EntryFragment, inline_css
from digest.rendering.slots import Slots, Slotted, wrap_long_lines
from subscribers.links import feedback_url_parts
from subscribers.personalize import NOBODY, Candidate, Personal, Reader, chunk_personal
from subscribers.tokens import FeedbackSigner

logger = logging.getLogger(__name__)

_TEMPLATES = "emails/edition/personal"


class Recipient(Protocol):
    @property
    def pk(self) -> int: ...
    @property
    def keywords(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class PaperParts:
    """One paper's personal fragments; slots: ``fb`` (the reader's feedback token), ``reason``, ``note``,
    ``actions`` (the filled feedback links)."""

    entry: EntryFragment
    card_html: Slotted  # the day's card with only ``actions`` left open
    card_text: Slotted
    actions_html: Slotted
    actions_text: Slotted
    pick_html: Slotted
    pick_text: Slotted
    still_html: Slotted
    still_text: Slotted


@dataclass(frozen=True, slots=True)
class PersonalParts:
    body: EditionBody
    foryou_open_html: str
    foryou_open_text: str
    papers: tuple[PaperParts, ...]
    by_paper: Mapping[int, PaperParts]

    def candidates(self) -> list[Candidate]:
        return [
            Candidate(p.entry.view.paper_id, p.entry.view.title, p.entry.view.search_text, p.entry.view.upvotes)
            for p in self.papers
        ]


def _inline(fragments: Mapping[str, str], marks: Slots) -> dict[str, str]:
    """Inline the edition's stylesheet into many fragments in one pass, and cut them apart again."""
    css = render_to_string("emails/edition/style.css")
    doc = "".join(f"<div>{marks['begin_' + n]}</div>{f}<div>{marks['end_' + n]}</div>" for n, f in fragments.items())
    inlined = inline_css(f"<html><head><style>{css}</style></head><body>{doc}</body></html>")
    out = {}
    for name in fragments:
        begin, end = re.escape(marks["begin_" + name]), re.escape(marks["end_" + name])
        match = re.search(rf"<div>{begin}</div>\s*(.*?)\s*<div>{end}</div>", inlined, re.DOTALL)
        if match is None:
            raise RuntimeError(f"fragment {name!r} was lost while inlining CSS")
        out[name] = wrap_long_lines(match.group(1))
    return out


def personal_parts(body: EditionBody) -> PersonalParts:
    """Render the personal fragments of every paper of ``body`` (a few templates and one CSS pass per edition)."""
    marks = Slots()
    (more_before, more_after), (less_before, less_after) = feedback_url_parts()
    links = {"more_url": f"{more_before}{marks.fb}{more_after}", "less_url": f"{less_before}{marks.fb}{less_after}"}
    fragments = {"foryou_open": render_to_string(f"{_TEMPLATES}/foryou_open.html")}
    texts = {"foryou_open": render_to_string(f"{_TEMPLATES}/foryou_open.txt")}
    for entry in body.entries:
        context = {"slot": marks, "entry": entry.view, **links}
        pid = entry.view.paper_id
        for name in ("actions", "foryou_item", "still_trending"):
            fragments[f"{name}_{pid}"] = render_to_string(f"{_TEMPLATES}/{name}.html", context)
            texts[f"{name}_{pid}"] = render_to_string(f"{_TEMPLATES}/{name}.txt", context)
    inlined = _inline(fragments, marks)
    papers = tuple(
        PaperParts(
            entry=entry,
            card_html=marks.split(wrap_long_lines(entry.html.fill({**entry.html_values, "actions": marks.actions}))),
            card_text=marks.split(entry.text.fill({**entry.text_values, "actions": marks.actions})),
            actions_html=marks.split(inlined[f"actions_{entry.view.paper_id}"]),
            actions_text=marks.split(texts[f"actions_{entry.view.paper_id}"]),
            pick_html=marks.split(inlined[f"foryou_item_{entry.view.paper_id}"]),
            pick_text=marks.split(texts[f"foryou_item_{entry.view.paper_id}"]),
            still_html=marks.split(inlined[f"still_trending_{entry.view.paper_id}"]),
            still_text=marks.split(texts[f"still_trending_{entry.view.paper_id}"]),
        )
        for entry in body.entries
    )
    return PersonalParts(
        body=body,
        foryou_open_html=inlined["foryou_open"],
        foryou_open_text=texts["foryou_open"],
        papers=papers,
        by_paper={p.entry.view.paper_id: p for p in papers},
    )


_PARTS: dict[int, PersonalParts] = {}


def parts_for(body: EditionBody) -> PersonalParts:
    """``personal_parts`` once per body object (the sender keeps one body per edition per process)."""
    parts = _PARTS.get(body.edition_id)
    if parts is None or parts.body is not body:
        if len(_PARTS) > 8:
            _PARTS.clear()
        parts = _PARTS[body.edition_id] = personal_parts(body)
    return parts


# Wrapping the "For you" picks: the body's slot sits in a row of its layout table, as a table of its own rows.
_SECTION_OPEN = '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr><td>'
_SECTION_CLOSE = "</td></tr></table>"


def fill_personal(
    parts: PersonalParts, *, signer: FeedbackSigner | None, personal: Personal = NOBODY
) -> tuple[dict[str, str], dict[str, str]]:
    """(html, text) values of the body's ``foryou`` and ``card_<n>`` slots for one reader: no query."""
    html_values: dict[str, str] = {}
    text_values: dict[str, str] = {}
    actions: dict[int, tuple[str, str]] = {}
    for paper in parts.papers:
        pid = paper.entry.view.paper_id
        if signer is not None:
            token = {"fb": signer.token(pid)}
            actions[pid] = (paper.actions_html.fill(token), paper.actions_text.fill(token))
        else:
            actions[pid] = ("", "")
        entry = paper.entry
        line = personal.still_trending.get(pid)
        if line is not None:
            note = line.note()
            html_values[entry.slot] = paper.still_html.fill({"note": html.escape(note), "actions": actions[pid][0]})
            text_values[entry.slot] = paper.still_text.fill({"note": note, "actions": actions[pid][1]})
        elif signer is not None:
            html_values[entry.slot] = paper.card_html.fill({"actions": actions[pid][0]})
            text_values[entry.slot] = paper.card_text.fill({"actions": actions[pid][1]})
    if personal.for_you:
        picks_html = [parts.foryou_open_html]
        picks_text = [parts.foryou_open_text]
        for pick in personal.for_you:
            paper = parts.by_paper[pick.paper_id]
            reason, (actions_html, actions_text) = pick.reason, actions[pick.paper_id]
            picks_html.append(paper.pick_html.fill({"reason": html.escape(reason), "actions": actions_html}))
            picks_text.append(paper.pick_text.fill({"reason": reason, "actions": actions_text}))
        html_values["foryou"] = f"{_SECTION_OPEN}\n{''.join(picks_html)}\n{_SECTION_CLOSE}"
        text_values["foryou"] = "".join(picks_text) + "\n"
    return html_values, text_values


def personal_for_chunk(*, edition: Edition, body: EditionBody, readers: Sequence[Recipient]) -> dict[int, Personal]:
    """Each reader's "For you" and "Still trending" for one chunk (see ``chunk_personal``).

    Personalising is an extra: if it fails the chunk still goes out, plain, and the failure is logged.
    """
    try:
        return chunk_personal(
            edition=edition,
            candidates=parts_for(body).candidates(),
            readers=[Reader(pk=reader.pk, keywords=reader.keywords) for reader in readers],
        )
    except Exception:
        logger.exception("personalising a chunk of edition %s failed: sending it without", edition.pk)
        return {}
