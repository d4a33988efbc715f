from __future__ import annotations

from digest.normalize import title_key


def test_title_key_folds_case_width_punctuation_and_whitespace() -> None:
    assert (
        title_key("Life, uh, Finds a Way:\n  Systematic   Neural Search")
        == "life uh finds a way systematic neural search"
    )
    assert title_key("LIFE UH FINDS A WAY — SYSTEMATIC NEURAL SEARCH!") == title_key(
        "life, uh, finds a way: systematic neural search"
    )
    # NFKC: full-width letters and ligatures compare equal to their plain forms.
    assert title_key("\uff21\uff29 \ufb01ndings") == "ai findings"
    assert title_key("Stra\u00dfe") == title_key("STRASSE")
    assert title_key("Multi-Task Learning") == title_key("MultiTask Learning")


def test_title_key_keeps_distinct_titles_apart() -> None:
    assert title_key("GPT-4V") != title_key("GPT-4")
    assert title_key("Caf\u00e9") != title_key("Cafe")
    assert len(title_key("word " * 500)) <= 500
