"""Emotion plans from a model: the strict schema, checking the answer, snapping it to word times (pure)."""

from __future__ import annotations

import json

import pytest

from streamer.core.emotion_plan import (
    PlanError,
    PlannedChange,
    emotion_expressions,
    parse_plan,
    plan_messages,
    plan_schema,
    snap_plan,
)
from streamer.core.timeline import WordSpan

WORDS = [WordSpan(i * 300, i * 300 + 250, w) for i, w in enumerate(["wow", "that", "is", "great", "but", "sad", "now"])]


def _assert_strict(schema: dict) -> None:
    """Structured outputs' strict mode: every object lists all its properties as required, none extra."""
    if schema.get("type") == "object":
        assert schema["additionalProperties"] is False
        assert sorted(schema["required"]) == sorted(schema["properties"])
        for sub in schema["properties"].values():
            _assert_strict(sub)
    if schema.get("type") == "array":
        _assert_strict(schema["items"])


def test_the_schema_is_strict_and_enumerates_the_expressions() -> None:
    schema = plan_schema(["neutral", "happy_big"])
    _assert_strict(schema)
    item = schema["properties"]["changes"]["items"]["properties"]
    assert item["expression"]["enum"] == ["neutral", "happy_big"]
    assert item["word_index"]["type"] == "integer"


def test_emotion_expressions_leave_out_mouth_shapes_and_blinks_and_start_with_neutral() -> None:
    names = ["happy_big", "neutral", "speaking_ah", "concerned", "blink_closed", "happy_big"]
    assert emotion_expressions(names, ["speaking_ah", "blink_closed", "neutral"]) == [
        "neutral",
        "happy_big",
        "concerned",
    ]


def test_the_prompt_numbers_the_words_and_lists_the_expressions() -> None:
    system, user = plan_messages(WORDS[:3], ["neutral", "surprised_ah"], "Wow, that is!")
    assert system["role"] == "system" and "only the listed expressions" in system["content"]
    assert user["content"] == "Expressions: neutral, surprised_ah\nText: Wow, that is!\nWords: 0=wow 1=that 2=is"


def test_parse_plan_accepts_a_valid_answer() -> None:
    content = json.dumps({"changes": [{"word_index": 3, "expression": "happy_big"}]})
    assert parse_plan(content, ["neutral", "happy_big"], len(WORDS)) == [PlannedChange(3, "happy_big")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "answer: not JSON"),
        ("[]", "answer: must be a JSON object"),
        ('{"changes": {}}', "changes: must be a list"),
        ('{"changes": [], "why": 1}', "why: unknown field"),
        ('{"changes": [3]}', "changes[0]: must be an object"),
        ('{"changes": [{"word_index": 1, "expression": "neutral", "x": 1}]}', "changes[0].x: unknown field"),
        ('{"changes": [{"word_index": -1, "expression": "neutral"}]}', "changes[0].word_index: must be an integer"),
        ('{"changes": [{"word_index": true, "expression": "neutral"}]}', "got true"),
        ('{"changes": [{"word_index": 7, "expression": "neutral"}]}', "in [0, 6], got 7"),
        ('{"changes": [{"word_index": 1, "expression": "angry"}]}', "changes[0].expression: 'angry' is not one"),
        ('{"changes": [{"word_index": 1}]}', "changes[0].expression: 'None'"),
    ],
)
def test_parse_plan_names_the_bad_field(content: str, message: str) -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan(content, ["neutral", "happy_big"], len(WORDS))
    assert message in str(caught.value)


def test_snap_plan_puts_changes_on_word_starts_and_returns_to_neutral() -> None:
    track = snap_plan([PlannedChange(0, "surprised_ah"), PlannedChange(3, "happy_big")], WORDS)
    assert track == [
        {"t_ms": 0, "expr": "surprised_ah", "transition_ms": 150},
        {"t_ms": 900, "expr": "happy_big", "transition_ms": 400},
        {"t_ms": 6 * 300 + 250 + 300, "expr": "neutral", "transition_ms": 500},
    ]


def test_snap_plan_keeps_the_minimum_gap_by_moving_or_dropping_changes() -> None:
    # Word 1 is 300 ms after word 0: the change moves to word 3 (900 ms), before the next planned one;
    # then "sad" moves from word 4 to word 6, and neutral comes 700 ms after it.
    track = snap_plan(
        [PlannedChange(0, "happy_big"), PlannedChange(1, "concerned"), PlannedChange(4, "sad")], WORDS, min_gap_ms=700
    )
    assert [(k["t_ms"], k["expr"]) for k in track] == [
        (0, "happy_big"),
        (900, "concerned"),
        (1800, "sad"),
        (2500, "neutral"),
    ]
    # No later word before the next planned change: dropped.
    track = snap_plan([PlannedChange(0, "happy_big"), PlannedChange(1, "concerned"), PlannedChange(2, "sad")], WORDS)
    assert [k["expr"] for k in track] == ["happy_big", "sad", "neutral"]


def test_snap_plan_skips_repeats_takes_the_last_change_at_a_word_and_ignores_bad_indices() -> None:
    changes = [
        PlannedChange(2, "happy_big"),
        PlannedChange(2, "concerned"),
        PlannedChange(5, "concerned"),
        PlannedChange(99, "sad"),
    ]
    track = snap_plan(changes, WORDS)
    assert [(k["t_ms"], k["expr"]) for k in track] == [(600, "concerned"), (2350, "neutral")]
    assert snap_plan([PlannedChange(0, "neutral")], WORDS) == []
    assert snap_plan([], []) == []


def test_snap_plan_drops_a_change_with_no_room_to_return_to_neutral() -> None:
    words = [WordSpan(0, 100, "hi"), WordSpan(200, 300, "you")]
    assert snap_plan([PlannedChange(1, "happy_big")], words, end_ms=201) == []
    track = snap_plan([PlannedChange(0, "happy_big")], words, end_ms=1000)
    assert track[-1] == {"t_ms": 700, "expr": "neutral", "transition_ms": 500}
