"""Abstracts as a reader sees them: TeX markup an abstract kept from its source paper, taken down to its text.

arXiv abstracts are written in TeX, and what a trending page or an API serves can still hold it: a whole command
(``\\textcolor{blue}{\\url{https://example.org/}}``), or what is left when something upstream removed only the
backslashed names (``{blue{https://example.org/}}``). Both leave braces in an email's excerpt and in the sentence a
keyword matched. This keeps the text each command wraps, and the escaped characters as themselves;
braces used otherwise (a set such as ``{0, 1}``) are left alone. Applied where an edition's card is made, so papers
stored before are read the same way.
"""

from __future__ import annotations

import re

# Two arguments: the colour or the address goes, the text stays (\textcolor{blue}{text}, \href{url}{text}).
_TWO = re.compile(r"\\(?:textcolor|colorbox|href)\{[^{}]*\}\{([^{}]*)\}")
# \name{text} or \name[option]{text}, innermost first (no braces inside): the text.
_ONE = re.compile(r"\\(?!(?:textcolor|colorbox|href)\b)[A-Za-z]+\*?(?:\[[^\]{}]*\])?\{([^{}]+)\}")
# The residue of \href{url}{\textcolor{blue}{text}} or \href{url}{text} once the names were removed upstream:
# "url{blue{text}}" or "url{text}" (the text is often the address again): the text.
_LINK = re.compile(r"https?://[^\s{}]+\{(?:[A-Za-z]+\{([^{}]*)\}|([^{}]*))\}")
# The residue of a command whose names were removed upstream: {blue{x}}, or a URL in braces (not a command's
# second argument, which the rules above take).
_RESIDUE = re.compile(r"\{[A-Za-z]+\{([^{}]*)\}\}")
_WRAPPED_URL = re.compile(r"(?<![}\w])\{(https?://[^\s{}]+)\}")
# \% \& \_ \# \$ are the characters themselves; a command with no argument keeps its name (\LaTeX), but dots.
_ESCAPED = re.compile(r"\\([%&_#$])")
_DOTS = re.compile(r"\\(?:ldots|dots|cdots)\b(?:\{\})?")
_BARE = re.compile(r"\\([A-Za-z]+)\b(?:\{\})?")


def readable(text: str) -> str:
    """``text`` with TeX commands and their leftovers replaced by what they wrap; anything else unchanged."""
    if "{" not in text and "\\" not in text:
        return text
    previous = None
    while previous != text:
        previous = text
        text = _TWO.sub(r"\1", text)
        text = _ONE.sub(r"\1", text)
        text = _LINK.sub(lambda match: match.group(1) if match.group(1) is not None else match.group(2), text)
        text = _RESIDUE.sub(r"\1", text)
        text = _WRAPPED_URL.sub(r"\1", text)
    text = _ESCAPED.sub(r"\1", text)
    text = _DOTS.sub("…", text)
    return _BARE.sub(r"\1", text)
