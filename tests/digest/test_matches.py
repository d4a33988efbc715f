"""Finding the sentence a keyword matched: sentence ends, windows around a match, what a card already shows."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from digest.rendering.keywords import keyword_pattern
from digest.rendering.matches import hidden_sentences, matching_sentences, sentence_spans
from digest.rendering.slots import trim_text

ROBOT = keyword_pattern(("robot",))


def sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in sentence_spans(text)]


def test_sentences_end_at_a_stop_before_a_capital_not_at_abbreviations_or_decimals() -> None:
    text = (
        "We study maps, e.g. floor plans, as in Fig. 3 of Smith et al. Results hold. "
        "Accuracy rises to 97.5 percent! Does it scale? Yes (mostly). "
        'A. Turing asked "Can machines think?" Then we stop.'
    )
    assert sentences(text) == [
        "We study maps, e.g. floor plans, as in Fig. 3 of Smith et al. Results hold.",
        "Accuracy rises to 97.5 percent!",
        "Does it scale?",
        "Yes (mostly).",
        'A. Turing asked "Can machines think?"',
        "Then we stop.",
    ]
    assert sentences("No stop at the end") == ["No stop at the end"]
    assert sentences("") == []


def test_the_sentence_holding_a_match_is_found_past_character_1500() -> None:
    filler = "Plans are drawn by hand and scanned at low resolution. " * 28
    abstract = f"{filler}A wheeled robot then reads them. We release code."
    assert abstract.index("robot") > 1500

    (found,) = matching_sentences(abstract, ROBOT)
    assert found.text == "A wheeled robot then reads them."
    assert found.start == abstract.index("A wheeled")


def test_a_long_sentence_is_cut_at_spaces_around_its_match_with_ellipses() -> None:
    sentence = " ".join(["before"] * 80) + " the robot " + " ".join(["after"] * 80) + "."
    (found,) = matching_sentences(sentence, ROBOT, chars=120)
    assert found.text.startswith("…before ") and found.text.endswith(" after…")
    assert "the robot" in found.text
    assert len(found.text) <= 122  # the window plus its two ellipses
    assert found.text.strip("…").split(" ")[0] == "before"  # cut between words, never inside one


def test_one_sentence_per_keyword_and_none_twice() -> None:
    pattern = keyword_pattern(("robot", "map", "floor"))
    text = "A robot reads a map. Another robot too. The floor is flat. Robots and maps again."
    found = matching_sentences(text, pattern)
    # "map" is in the sentence chosen for "robot": shown there, highlighted, not again.
    assert [s.text for s in found] == ["A robot reads a map.", "The floor is flat."]
    assert matching_sentences(text, pattern, limit=1)[0].text == "A robot reads a map."


def test_matches_before_after_or_of_a_word_already_seen_are_skipped() -> None:
    text = "The robot starts. It maps rooms. Then the robot stops."
    after_first = matching_sentences(text, ROBOT, after=len("The robot starts."))
    assert [s.text for s in after_first] == ["Then the robot stops."]
    assert [s.text for s in matching_sentences(text, ROBOT)] == ["The robot starts."]
    assert matching_sentences(text, ROBOT, skip=frozenset({"robot"})) == []


def test_hidden_sentences_only_for_keywords_the_card_does_not_show() -> None:
    filler = "We read plans drawn by hand. " * 30
    abstract = f"{filler}A robot follows them."
    excerpt = trim_text(abstract)
    assert "robot" not in excerpt

    (found,) = hidden_sentences(elsewhere=("Reading plans",), abstract=abstract, excerpt=excerpt, pattern=ROBOT)
    assert found.text == "A robot follows them."
    # In the title or in the excerpt, the card highlights it already: nothing more to show.
    assert hidden_sentences(elsewhere=("A robot reads",), abstract=abstract, excerpt=excerpt, pattern=ROBOT) == []
    early = f"A robot reads. {abstract}"
    assert hidden_sentences(elsewhere=("Plans",), abstract=early, excerpt=trim_text(early), pattern=ROBOT) == []


def test_a_match_cut_by_the_excerpt_counts_as_hidden() -> None:
    abstract = "x " * 205 + "the robots read plans."
    excerpt = trim_text(abstract)
    assert "robot" not in excerpt
    (found,) = hidden_sentences(abstract=abstract, excerpt=excerpt, pattern=ROBOT)
    assert "robots read plans." in found.text


@given(st.text(alphabet="ab. ?!Rr\"'(", max_size=300))
def test_sentences_cover_the_text_in_order_without_overlap(text: str) -> None:
    spans = sentence_spans(text)
    assert all(start < end for start, end in spans)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))
    # Nothing but whitespace is left out between sentences.
    covered = "".join(text[start:end] for start, end in spans)
    assert "".join(covered.split()) == "".join(text.split())


@given(st.text(alphabet="ab robot.R ", max_size=400), st.integers(min_value=20, max_value=200))
def test_every_found_sentence_holds_a_match(text: str, chars: int) -> None:
    for found in matching_sentences(text, ROBOT, chars=chars, limit=5):
        assert ROBOT.search(found.text)
        assert found.text.strip("…") in text
