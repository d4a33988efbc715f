"""The title key: how two renderings of one title are recognised as the same paper when no arXiv id says so."""

from __future__ import annotations

import unicodedata

TITLE_KEY_MAX = 500  # Paper.title_key's max_length


def title_key(title: str) -> str:
    """NFKC, casefolded, punctuation dropped, whitespace (line breaks included) collapsed to single spaces.

    ``"Life, uh, Finds a Way:\\n Systematic  Neural Search"`` and ``"life uh finds a way systematic neural search"``
    share a key. Punctuation is dropped rather than turned into a space, so ``Multi-Task`` and ``MultiTask`` match.
    """
    folded = unicodedata.normalize("NFKC", title).casefold()
    kept = "".join(char for char in folded if not unicodedata.category(char).startswith("P"))
    return " ".join(kept.split())[:TITLE_KEY_MAX]
