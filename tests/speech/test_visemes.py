"""Phonemes to the v1 speech track, and whole timelines for speech (pure, plus one real synthesis)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.core.errors import TimelineError
from streamer.core.resolve import resolve
from streamer.core.rig import DEFAULT_VISEMES
from streamer.core.timeline import check_against_rig, parse_timeline
from streamer.speech import Phoneme, Speech, Word, speech_track, synthesize, timeline_for
from tests.rigs import make_rig


def ph(t: int, end: int, arpabet: str | None, word: str | None = "w", symbol: str = "x") -> Phoneme:
    return Phoneme(t, end, "_" if arpabet is None else symbol, arpabet, None if arpabet is None else word)


def shapes(track: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    return [(c["t_ms"], c["end_ms"], c["viseme"]) for c in track]


def assert_valid_track(track: list[dict[str, Any]]) -> None:
    for cue, after in zip(track, track[1:], strict=False):
        assert cue["end_ms"] <= after["t_ms"]
    for cue in track:
        assert isinstance(cue["t_ms"], int) and isinstance(cue["end_ms"], int)
        assert cue["end_ms"] > cue["t_ms"] >= 0
    parse_timeline({"version": 1, "tracks": {"speech": track}})


def test_vowels_take_the_rig_shape_consonants_relax_and_pauses_leave_a_gap() -> None:
    phonemes = [
        ph(0, 80, "HH", "hello"),
        ph(80, 200, "AH0", "hello"),
        ph(200, 300, "L", "hello"),
        ph(300, 500, "OW1", "hello"),
        ph(500, 800, None),
        ph(800, 900, "M", "me"),
        ph(900, 1100, "IY1", "me"),
    ]
    track = speech_track(phonemes, DEFAULT_VISEMES)
    assert shapes(track) == [
        (0, 80, "neutral"),
        (80, 200, "speaking_ah"),
        (200, 300, "neutral"),
        (300, 500, "oh_round"),
        (800, 900, "neutral"),
        (900, 1100, "speaking_ee"),
    ]
    assert [c["phoneme"] for c in track] == ["HH", "AH0", "L", "OW1", "M", "IY1"]
    assert [c["word"] for c in track] == ["hello"] * 4 + ["me"] * 2


def test_equal_neighbours_merge_and_keep_the_first_sound() -> None:
    phonemes = [ph(0, 100, "IY1"), ph(100, 200, "EH0"), ph(200, 300, "P"), ph(300, 400, "B")]
    track = speech_track(phonemes, DEFAULT_VISEMES)
    assert shapes(track) == [(0, 200, "speaking_ee"), (200, 400, "neutral")]
    assert track[0]["phoneme"] == "IY1"


def test_a_short_consonant_between_vowels_is_absorbed_by_the_shorter_vowel() -> None:
    track = speech_track([ph(0, 200, "AA1"), ph(200, 230, "T"), ph(230, 330, "IY0")], DEFAULT_VISEMES)
    assert shapes(track) == [(0, 200, "speaking_ah"), (200, 330, "speaking_ee")]
    assert track[1]["phoneme"] == "IY0"


def test_a_short_vowel_borrows_time_from_the_longer_consonant_next_to_it() -> None:
    track = speech_track([ph(0, 100, "S"), ph(100, 140, "AH0"), ph(140, 170, "T"), ph(170, 300, "M")], DEFAULT_VISEMES)
    assert shapes(track) == [(0, 100, "neutral"), (100, 160, "speaking_ah"), (160, 300, "neutral")]


def test_a_short_vowel_wins_over_a_short_consonant_it_cannot_borrow_from() -> None:
    track = speech_track([ph(0, 70, "S"), ph(70, 110, "AH0"), ph(110, 150, "T"), ph(150, 300, None)], DEFAULT_VISEMES)
    assert shapes(track) == [(0, 70, "neutral"), (70, 150, "speaking_ah")]


def test_no_shape_is_shorter_than_min_hold_when_it_has_neighbours() -> None:
    phonemes = [ph(i * 25, (i + 1) * 25, a) for i, a in enumerate(["P", "AA1", "T", "IY0", "K", "UW1", "S", "OW1"])]
    track = speech_track(phonemes, DEFAULT_VISEMES, min_hold_ms=60)
    assert all(c["end_ms"] - c["t_ms"] >= 60 for c in track)
    assert (track[0]["t_ms"], track[-1]["end_ms"]) == (0, 200)


def test_an_isolated_short_sound_is_stretched_into_the_silence_after_it() -> None:
    track = speech_track([ph(100, 130, "AH0"), ph(130, 400, None), ph(400, 500, "IY1")], DEFAULT_VISEMES)
    assert shapes(track) == [(100, 160, "speaking_ah"), (400, 500, "speaking_ee")]


def test_a_silence_shorter_than_min_hold_is_bridged() -> None:
    track = speech_track([ph(0, 100, "AA1"), ph(100, 130, None), ph(130, 300, "M")], DEFAULT_VISEMES)
    assert shapes(track) == [(0, 130, "speaking_ah"), (130, 300, "neutral")]


def test_uses_the_rigs_own_map_and_unknown_sounds_relax() -> None:
    phonemes = [ph(0, 100, "M"), ph(100, 200, "AA1"), Phoneme(200, 300, "Q!", None, "w")]
    track = speech_track(phonemes, {"M": "lips_pressed", "AA": "jaw_open"})
    assert shapes(track) == [(0, 100, "lips_pressed"), (100, 200, "jaw_open"), (200, 300, "neutral")]
    assert track[2]["phoneme"] == "Q!"


def test_zero_min_hold_keeps_every_sound() -> None:
    track = speech_track([ph(0, 10, "P"), ph(10, 15, "AA1"), ph(15, 20, "T")], DEFAULT_VISEMES, min_hold_ms=0)
    assert shapes(track) == [(0, 10, "neutral"), (10, 15, "speaking_ah"), (15, 20, "neutral")]


ARPABET = sorted(DEFAULT_VISEMES) + ["P", "M", "S", "T", "L", "R", "NG"]


@given(
    st.lists(
        st.tuples(st.integers(0, 120), st.integers(1, 150), st.sampled_from([*ARPABET, None]), st.sampled_from("012")),
        max_size=60,
    ),
    st.integers(0, 120),
)
def test_any_phoneme_sequence_gives_a_valid_track_within_the_speech(
    items: list[tuple[int, int, str | None, str]], min_hold_ms: int
) -> None:
    phonemes, t = [], 0
    for gap, length, sound, stress in items:
        t += gap
        arpabet = None if sound is None else sound + stress if sound in DEFAULT_VISEMES else sound
        phonemes.append(ph(t, t + length, arpabet))
        t += length
    track = speech_track(phonemes, DEFAULT_VISEMES, min_hold_ms=min_hold_ms)
    assert_valid_track(track)
    sounding = [p for p in phonemes if p.arpabet is not None]
    if not sounding:
        assert track == []
        return
    assert track[0]["t_ms"] == sounding[0].t_ms
    assert sounding[-1].end_ms <= track[-1]["end_ms"] <= sounding[-1].end_ms + min_hold_ms
    for k, cue in enumerate(track):  # a shape shorter than min_hold has nothing touching it
        if cue["end_ms"] - cue["t_ms"] < min_hold_ms:
            assert k == 0 or track[k - 1]["end_ms"] < cue["t_ms"]
            assert k + 1 == len(track) or cue["end_ms"] < track[k + 1]["t_ms"]


@pytest.fixture(scope="module")
def speech() -> Speech:
    return synthesize("Hi, I'm Pip. Let's talk!")


def test_timeline_for_speech_parses_and_plays_the_audio(speech: Speech) -> None:
    doc = timeline_for(speech, "pip.ogg", DEFAULT_VISEMES)
    timeline = parse_timeline(doc)
    assert doc["audio"] == {"id": "pip.ogg", "offset_ms": 0}
    assert timeline.duration_ms == speech.duration_ms + 500
    assert [w.text for w in timeline.words] == ["Hi", "I'm", "Pip", "Let's", "talk"]
    assert timeline.speech and {c.viseme for c in timeline.speech} <= {"neutral", *DEFAULT_VISEMES.values()}
    assert {c.word for c in timeline.speech} <= {"Hi", "I'm", "Pip", "Let's", "talk"}
    assert [(k.expr, k.t_ms > speech.words[-1].end_ms) for k in timeline.emotion] == [
        ("happy_soft", False),
        ("neutral", True),
    ]
    assert (timeline.idle_blink, timeline.seed) == (True, 7)
    assert timeline.speech[-1].end_ms <= speech.duration_ms + 60


def test_timeline_for_speech_resolves_on_the_face_rig_rig(speech: Speech) -> None:
    rig = make_rig()
    timeline = parse_timeline(timeline_for(speech, "pip.ogg", rig.config.visemes))
    check_against_rig(timeline, rig)
    schedule = resolve(timeline, rig)
    assert schedule.duration_ms == timeline.duration_ms
    keys = {key for _, key in schedule.changes}
    assert any("speaking_" in key for key in keys)


def test_timeline_for_takes_emotion_and_pose_tracks(speech: Speech) -> None:
    emotion = [{"t_ms": 0, "expr": "concerned", "transition_ms": 300}]
    pose = [{"t_ms": 100, "pose": "tilt_left_small", "transition_ms": 300}]
    timeline = parse_timeline(timeline_for(speech, "pip.wav", DEFAULT_VISEMES, emotion, pose=pose))
    assert [k.expr for k in timeline.emotion] == ["concerned"]
    assert [k.pose for k in timeline.pose] == ["tilt_left_small"]


@pytest.mark.parametrize("audio_id", ["../pip.ogg", "a/b.ogg", ""])
def test_timeline_for_rejects_a_bad_audio_id(speech: Speech, audio_id: str) -> None:
    with pytest.raises(TimelineError, match="audio.id"):
        timeline_for(speech, audio_id, DEFAULT_VISEMES)


def test_timeline_for_silent_speech_still_parses() -> None:
    silent = Speech(np.zeros(2205, dtype=np.int16), 22050, [Word(0, 0, "hm")], [ph(0, 100, None)])
    doc = timeline_for(silent, "hm.wav", DEFAULT_VISEMES)
    assert doc["tracks"]["speech"] == [] and parse_timeline(doc).duration_ms == 600
