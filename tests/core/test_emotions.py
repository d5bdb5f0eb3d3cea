"""Offline emotion rules: sensible expressions for example sentences, spacing, rig limits (pure)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.core.emotions import analyze, change_at, expression_for, plan_emotions
from streamer.core.errors import TimelineError
from streamer.core.timeline import WordSpan, parse_timeline
from tests.rigs import FACE_RIG_CONFIG

EXPRESSIONS = list(FACE_RIG_CONFIG["expressions"])
WORD_MS, STEP_MS = 300, 350


def words_of(text: str) -> list[WordSpan]:
    """The words of ``text`` (letters or emoji) at a steady pace, as a speech engine reports them."""
    out: list[WordSpan] = []
    for m in re.finditer(r"[^\s!?.,;:()\"]+", text):
        token = m.group(0)
        if not re.search(r"\w", token) and not any(ord(c) > 0x2000 for c in token):
            continue  # an emoticon such as :( is not spoken
        t = len(out) * STEP_MS
        out.append(WordSpan(t, t + WORD_MS, token))
    return out


def faces(text: str, expressions: list[str] = EXPRESSIONS) -> list[str]:
    """The expressions the face goes through, in order, without the final return to neutral."""
    track = plan_emotions(words_of(text), expressions, text)
    if track:
        assert track[-1]["expr"] == "neutral"
    return [k["expr"] for k in track[:-1]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # joy, soft and big
        ("Hello there, nice to meet you.", ["happy_soft"]),
        ("Thank you for coming.", ["happy_soft"]),
        ("I love this!", ["happy_big"]),
        ("Great news 😀", ["happy_big"]),
        ("We won :)", ["happy_big"]),
        ("Hello! I am so happy to see you.", ["happy_soft", "happy_big"]),
        # sadness, worry, fear, anger: the demo rig shows them all as concerned
        ("I am worried about the storm.", ["concerned"]),
        ("I'm sorry for your loss.", ["concerned"]),
        ("That is really sad.", ["concerned"]),
        ("Oh no, I lost my keys.", ["concerned"]),
        ("I hate waiting in line.", ["concerned"]),
        ("That's a shame 😢", ["concerned"]),
        # negation
        ("I am not happy about this.", ["concerned"]),
        ("I'm not happy about this.", ["concerned"]),
        ("Not bad at all.", ["happy_soft"]),
        ("Don't worry, it will be fine.", ["happy_soft"]),
        ("No, I am not surprised.", []),
        # surprise
        ("Wow, that is amazing!", ["surprised_ah"]),
        ("Really?", ["surprised_ah"]),
        ("What?!", ["surprised_ah"]),
        ("No way!", ["surprised_ah"]),
        ("That was so unexpected.", ["surprised_ah"]),
        # neutral statements and questions
        ("The meeting is at three o'clock.", []),
        ("Today we talk about tables and chairs. Then we eat lunch.", []),
        ("Is the file on the table?", []),
        ("Oh, I see.", []),
        # several sentences
        ("I lost my wallet. Then I found it again, wonderful!", ["concerned", "happy_big"]),
        ("Wow! The meeting starts at nine.", ["surprised_ah"]),  # back to neutral at "meeting"
    ],
)
def test_example_sentences_pick_sensible_expressions(text: str, expected: list[str]) -> None:
    assert faces(text) == expected


def test_exclamation_raises_intensity() -> None:
    plain = analyze(words_of("I am happy."), "I am happy.")[0]
    loud = analyze(words_of("I am happy!"), "I am happy!")[0]
    assert plain.emotion == loud.emotion == "joy"
    assert loud.intensity > plain.intensity


def test_punctuation_can_come_with_the_words_instead_of_the_text() -> None:
    words = [WordSpan(0, 300, "I"), WordSpan(350, 650, "lost."), WordSpan(700, 1000, "Wow!")]
    assert [s.emotion for s in analyze(words)] == ["sadness", "surprise"]


def test_changes_start_at_the_emotional_word_and_end_in_neutral() -> None:
    text = "Yesterday I was so happy with the results."
    words = words_of(text)
    track = plan_emotions(words, EXPRESSIONS, text)
    assert track == [
        {"t_ms": words[4].t_ms, "expr": "happy_big", "transition_ms": 400},
        {"t_ms": words[-1].end_ms + 300, "expr": "neutral", "transition_ms": 500},
    ]


def test_changes_keep_a_minimum_spacing_on_word_starts() -> None:
    text = "Wow! Sad. Great! Oh no. Yay!"
    words = words_of(text)
    track = plan_emotions(words, EXPRESSIONS, text, min_gap_ms=700)
    starts = {w.t_ms for w in words}
    assert all(k["t_ms"] in starts for k in track[:-1])
    gaps = [b["t_ms"] - a["t_ms"] for a, b in zip(track, track[1:], strict=False)]
    assert gaps and min(gaps) >= 700
    # Without the spacing every sentence gets its change.
    assert len(plan_emotions(words, EXPRESSIONS, text, min_gap_ms=0)) == 6


def test_only_the_rigs_expressions_are_used() -> None:
    assert faces("I love this!", ["neutral", "happy_soft"]) == ["happy_soft"]
    assert faces("I am sad.", ["neutral", "sad", "concerned"]) == ["sad"]
    assert faces("I am worried.", ["neutral", "sad", "worried"]) == ["worried"]
    assert faces("Wow!", ["neutral", "oh_round"]) == ["oh_round"]
    assert faces("I love this! Wow! I am worried.", ["neutral"]) == []
    assert expression_for("anger", 0.9, ["neutral", "angry", "concerned"]) == "angry"


def test_end_ms_bounds_the_return_to_neutral() -> None:
    text = "I am so happy"
    words = words_of(text)
    track = plan_emotions(words, EXPRESSIONS, text, end_ms=words[-1].end_ms + 100)
    assert track[-1] == {"t_ms": words[-1].end_ms + 99, "expr": "neutral", "transition_ms": 500}
    # No room at all after the change: no change.
    assert plan_emotions([WordSpan(0, 300, "happy!")], EXPRESSIONS, end_ms=1) == []


def test_a_change_goes_to_the_first_word_that_keeps_the_gap() -> None:
    words = [WordSpan(t, t + 90, "w") for t in (0, 100, 100, 900, 1000)]
    assert change_at(words, 0, 5, last_t_ms=-701, min_gap_ms=700) == 0
    assert change_at(words, 1, 5, last_t_ms=0, min_gap_ms=700) == 3  # moved to a later word
    assert change_at(words, 1, 3, last_t_ms=0, min_gap_ms=700) is None  # none left before ``stop``: dropped
    assert change_at(words, 1, 5, last_t_ms=100, min_gap_ms=0) == 3  # never at the previous change's time


def test_empty_and_bad_words() -> None:
    assert plan_emotions([], EXPRESSIONS) == []
    with pytest.raises(TimelineError, match=r"words\[1\]\.t_ms"):
        plan_emotions([WordSpan(500, 600, "a"), WordSpan(100, 200, "b")], EXPRESSIONS)
    with pytest.raises(TimelineError, match=r"words\[0\]\.end_ms"):
        plan_emotions([WordSpan(500, 400, "a")], EXPRESSIONS)


def test_text_that_does_not_match_the_words_is_tolerated() -> None:
    words = [WordSpan(0, 300, "happy"), WordSpan(350, 600, "day")]
    assert [k["expr"] for k in plan_emotions(words, EXPRESSIONS, "something else entirely!")] == [
        "happy_soft",
        "neutral",
    ]


def test_text_whose_lower_case_changes_length_still_lines_up() -> None:
    text = "İstanbul was wonderful! Wow."
    assert [s.emotion for s in analyze(words_of(text), text)] == ["joy", "surprise"]


_word = st.sampled_from(["happy", "sad", "wow", "not", "the", "table", "great", "worried", "so", "😀", "no", "way"])
_punct = st.sampled_from(["", "", " ", "!", "?", ".", ",", "?!", " :)"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_word, _punct, st.integers(0, 400), st.integers(1, 600)), max_size=25))
def test_tracks_are_valid_deterministic_and_return_to_neutral(items: list[tuple[str, str, int, int]]) -> None:
    words, parts, t = [], [], 0
    for text, punct, gap, length in items:
        t += gap
        words.append(WordSpan(t, t + length, text))
        parts.append(text + punct)
        t += length
    text = " ".join(parts)
    track = plan_emotions(words, EXPRESSIONS, text)
    assert track == plan_emotions(words, EXPRESSIONS, text)
    parse_timeline({"version": 1, "tracks": {"emotion": track}})
    assert all(k["expr"] in EXPRESSIONS for k in track)
    if track:
        assert track[-1]["expr"] == "neutral"
        assert all(b["t_ms"] - a["t_ms"] >= 700 for a, b in zip(track, track[1:], strict=False))
