"""The face while talking: the emotion stays where the rig allows it, the upper face never flickers per word."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.core.layers import PHRASE_GAP_MS, Target, target_events
from streamer.core.resolve import resolve
from streamer.core.rig import Rig, State, not_emotions
from streamer.core.routing import router_for
from streamer.core.timeline import parse_timeline
from streamer.demo.spec import VARIANT_OF
from tests.rigs import demo_rig, make_rig

DEMO = demo_rig()
FACE_RIG = make_rig()  # face_rig's layout: its emotions have no speaking mouths
HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello.json"
VISEMES = ["speaking_ah", "speaking_ee", "speaking_uw", "oh_round", "neutral"]


def emotions_of(rig: Rig) -> list[str]:
    """The expressions an emotion track would use: not mouth shapes, blinks or talking variants."""
    skip = set(not_emotions(rig.config.visemes)) | set(VARIANT_OF)
    return [e for e in rig.expressions if e not in skip]


def upper(rig: Rig, state: State) -> tuple[str, str]:
    axes = rig.axes_of(state.expr)
    return axes["eyes"], axes["brows"]


@st.composite
def speech_under_an_emotion(draw: st.DrawFn, emotions: list[str]) -> dict[str, Any]:
    """A v1 timeline: one emotion from the start, then random speech with short and long silences."""
    speech: list[dict[str, Any]] = []
    t = draw(st.integers(0, 1000))
    for gap, length, viseme in draw(
        st.lists(
            st.tuples(
                st.one_of(st.integers(0, 200), st.integers(PHRASE_GAP_MS - 50, 2000)),
                st.integers(20, 400),
                st.sampled_from(VISEMES),
            ),
            min_size=1,
            max_size=60,
        )
    ):
        start = t + gap
        speech.append({"t_ms": start, "end_ms": start + length, "viseme": viseme})
        t = start + length
    emotion = draw(st.sampled_from(emotions))
    return {
        "version": 1,
        "start": {"expr": "neutral", "pose": "center"},
        "tracks": {"emotion": [{"t_ms": 0, "expr": emotion, "transition_ms": 400}], "speech": speech},
        "idle": {"blink": False},  # a blink is a change of the eyes on purpose
        "duration_ms": t + 800,
    }


def spoken_phrases(doc: dict[str, Any]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for cue in doc["tracks"]["speech"]:
        if out and cue["t_ms"] - out[-1][1] < PHRASE_GAP_MS:
            out[-1] = (out[-1][0], cue["end_ms"])
        else:
            out.append((cue["t_ms"], cue["end_ms"]))
    return out


def targets(doc: dict[str, Any], rig: Rig) -> list[Target]:
    return target_events(parse_timeline(doc), rig, router_for(rig))


@settings(max_examples=150, deadline=None)
@given(speech_under_an_emotion(emotions_of(DEMO)))
def test_on_the_demo_rig_the_emotion_stays_on_the_face_through_any_speech(doc: dict[str, Any]) -> None:
    emotion = doc["tracks"]["emotion"][0]["expr"]
    wanted = upper(DEMO, State(emotion, "center"))
    found = targets(doc, DEMO)
    assert {upper(DEMO, t.state) for t in found} <= {wanted}, "only the mouth moves with the words"
    schedule = resolve(parse_timeline(doc), DEMO)
    shown = [DEMO.state_of_key(k) for _, k in schedule.changes]
    endpoints = [s for s in shown if s is not None]
    first = next((i for i, s in enumerate(endpoints) if upper(DEMO, s) == wanted), 0)
    assert all(upper(DEMO, s) == wanted for s in endpoints[first:]), "no frame on screen leaves the emotion"


@settings(max_examples=150, deadline=None)
@given(speech_under_an_emotion(emotions_of(FACE_RIG)))
def test_without_speaking_emotions_the_upper_face_changes_only_between_phrases(doc: dict[str, Any]) -> None:
    found = targets(doc, FACE_RIG)

    def face_at(t_ms: int) -> tuple[str, str]:
        return upper(FACE_RIG, [State("neutral", "center"), *(t.state for t in found if t.t_ms <= t_ms)][-1])

    for start, end in spoken_phrases(doc):
        inside = [t for t in found if start < t.t_ms < end]
        assert {upper(FACE_RIG, t.state) for t in inside} <= {face_at(start)}, (
            f"the upper face changed inside the phrase {start}-{end}: {inside}"
        )
    changes = sum(
        1 for a, b in zip(found, found[1:], strict=False) if upper(FACE_RIG, a.state) != upper(FACE_RIG, b.state)
    )
    assert changes <= 2 * len(spoken_phrases(doc)) + 1


def test_without_speaking_emotions_a_phrase_is_spoken_with_the_neutral_face_and_the_emotion_returns() -> None:
    doc = {
        "version": 1,
        "tracks": {
            "emotion": [{"t_ms": 0, "expr": "happy_soft", "transition_ms": 300}],
            "speech": [
                {"t_ms": 1000, "end_ms": 1100, "viseme": "speaking_ee"},
                {"t_ms": 1100, "end_ms": 1200, "viseme": "neutral"},
                {"t_ms": 1400, "end_ms": 1500, "viseme": "speaking_ah"},
            ],
        },
        "idle": {"blink": False},
        "duration_ms": 3000,
    }
    assert [(t.t_ms, t.state.expr) for t in targets(doc, FACE_RIG)] == [
        (0, "happy_soft"),
        (1000, "speaking_ee"),
        (1100, "neutral"),  # a closed mouth, and the short silence after it, keep the neutral face
        (1400, "speaking_ah"),
        (1500, "happy_soft"),  # the phrase is over: the emotion comes back
    ]


@pytest.mark.parametrize(("rig", "expected"), [(DEMO, 2), (FACE_RIG, 2)], ids=["demo", "face_rig"])
def test_hello_changes_the_eyes_at_most_twice(rig: Rig, expected: int) -> None:
    """examples/hello.json smiles while it talks and nods: the eyes squinted and unsquinted 7 times before."""
    schedule = resolve(parse_timeline(json.loads(HELLO.read_text())), rig)
    endpoints = [s for s in (rig.state_of_key(k) for _, k in schedule.changes) if s is not None]
    eyes = [rig.axes_of(s.expr)["eyes"] for s in endpoints]
    assert sum(1 for a, b in zip(eyes, eyes[1:], strict=False) if a != b) <= expected


def test_on_the_demo_rig_hello_smiles_through_its_words_and_its_nod() -> None:
    schedule = resolve(parse_timeline(json.loads(HELLO.read_text())), DEMO)
    during = [DEMO.state_of_key(k) for t, k in schedule.changes if 400 <= t < 4342]
    assert {upper(DEMO, s) for s in during if s is not None} == {("squint", "neutral")}
    assert "endpoints/happy_soft_ah__nod_down_small.png" in {k for _, k in schedule.changes}
