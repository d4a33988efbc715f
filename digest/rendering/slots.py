"""Slotted text: a document rendered once, with named holes filled later by string substitution.

Slots are marked with tokens that carry a random nonce drawn per rendering, so text from a paper (titles come from
the internet) can never forge a slot and pull in another reader's links. The text shaping here (wrapping, trimming)
keeps every line of a message under the RFC 5322 limit once the slots are filled.
"""

from __future__ import annotations

import re
import secrets
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass

# RFC 5322 caps lines at 998 octets; Django falls back to quoted-printable for a body with a longer line, which
# costs most of the MIME-building time. Wrap well below it, leaving room for the URLs and sections filled in later.
WRAP_AT = 760
ABSTRACT_CHARS = 420


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


class Slots:
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


def fill_paragraph(text: str) -> str:
    # Plain-text paragraphs at 76 columns: what mail readers show without wrapping them again.
    return textwrap.fill(text, width=76, break_long_words=False, break_on_hyphens=False)
